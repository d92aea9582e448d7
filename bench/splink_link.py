#!/usr/bin/env python3
"""Splink baseline for `jiceng bench linkage`: link incoming records to the registry.

Tested with Splink 5.0.0 (DuckDB backend; duckdb 2.0.1, sqlglot 30.31.0), the newest
release on PyPI when this was written; the issue asked for Splink 5. Splink 5 changed
the API again from 4: tables are registered with `db_api.register()` and the Linker
takes the registered SplinkDataFrames (no `db_api=` argument), and pandas is no
longer a dependency. bench/linkage.sh pins the same version.

The model follows Splink's own examples for person data (febrl4 link_only,
deduplicate_50k_synthetic): out-of-the-box comparisons, deterministic rules for the
prior, u by random sampling, m by EM over two blocking rules. Nothing is tuned on the
truth file, which is only read after linking to score the result.

    python bench/splink_link.py --registry R.csv --incoming I.csv --truth T.csv \
        [--threshold 0.5] [--u-max-pairs 5e6] [--json] [--verbose]
"""

import argparse
import json
import logging
import resource
import sys
import time

T0 = time.perf_counter()  # wall time covers imports too: they are part of using Splink

import duckdb  # noqa: E402
import splink  # noqa: E402
import splink.comparison_library as cl  # noqa: E402
from splink import DuckDBAPI, Linker, SettingsCreator, block_on  # noqa: E402

# Default sample size for u. The docs suggest 1e7+ for a final model; 5e6 keeps
# training to seconds on the 2-core benchmark machine. Early stopping never triggers
# for the rare ID-number near-match levels, so this is a fixed cost whatever the
# input size.
U_MAX_PAIRS = 5e6
# Share of true matches the deterministic rules are assumed to find (docs use 0.6-0.8).
DETERMINISTIC_RECALL = 0.8


def load(con, path, id_col, table, source):
    # All columns as text (IDs end in X, phones must keep leading digits); blanks become
    # NULL so Splink's null levels apply. Chinese names have no separator, so the
    # surname is taken as the first character: compound surnames (欧阳, 司马) are rare
    # enough that the full-name level still carries them.
    con.execute(
        f"""
        create table {table} as
        select
            nullif(trim({id_col}), '') as unique_id,
            '{source}' as source_dataset,
            nullif(trim(name), '') as name,
            nullif(substr(trim(name), 1, 1), '') as surname,
            nullif(substr(trim(name), 2), '') as given_name,
            nullif(trim(sex), '') as sex,
            nullif(trim(dob), '') as dob,
            nullif(upper(trim(id_number)), '') as id_number,
            nullif(trim(community), '') as community,
            nullif(trim(phone), '') as phone
        from read_csv(?, header = true, all_varchar = true)
        """,
        [path],
    )


def settings():
    return SettingsCreator(
        link_type="link_only",
        unique_id_column_name="unique_id",
        source_dataset_column_name="source_dataset",
        comparisons=[
            # Full-name exact (term-frequency adjusted on the whole name, as the docs
            # recommend), then surname-only / given-name-only levels. Jaro-Winkler
            # levels rarely fire on 1-3 Han characters but cost little.
            cl.ForenameSurnameComparison(
                "given_name", "surname", forename_surname_concat_col_name="name"
            ),
            cl.DateOfBirthComparison(
                "dob", input_is_string=True, datetime_format="%Y-%m-%d"
            ),
            # The docs' febrl4 example uses Damerau-Levenshtein for an ID number, but
            # DuckDB's damerau_levenshtein is ~5x slower than levenshtein and u
            # sampling runs it on every sampled pair; a swap of two adjacent digits
            # is distance 2 here, so it still lands on a near-match level.
            cl.LevenshteinAtThresholds("id_number", [1, 2]),
            cl.ExactMatch("sex"),
            cl.ExactMatch("community").configure(term_frequency_adjustments=True),
            cl.ExactMatch("phone"),
        ],
        # Each true pair only needs to meet one rule; together they survive a typo in
        # any single field (and in the ID number plus the date of birth together).
        blocking_rules_to_generate_predictions=[
            block_on("id_number"),
            block_on("dob"),
            block_on("name", "substr(dob, 1, 4)"),
            block_on("phone"),
            block_on("community", "given_name"),
            block_on("community", "surname", "substr(dob, 1, 4)"),
        ],
    )


def link(args):
    db_api = DuckDBAPI()
    con = db_api.duckdb_con
    load(con, args.registry, "person_id", "registry", "registry")
    load(con, args.incoming, "incoming_id", "incoming", "incoming")
    tables = [
        db_api.register("registry", dataset_display_name="registry"),
        db_api.register("incoming", dataset_display_name="incoming"),
    ]
    linker = Linker(
        tables, settings(), log_level=logging.INFO if args.verbose else logging.WARNING
    )

    training = linker.training
    training.estimate_probability_two_random_records_match(
        [block_on("id_number"), block_on("name", "dob"), block_on("phone", "dob")],
        recall=DETERMINISTIC_RECALL,
    )
    # A fixed seed costs a little time but makes repeated benchmark runs comparable.
    training.estimate_u_using_random_sampling(max_pairs=args.u_max_pairs, seed=1)
    # Two rules so every comparison gets m from a session that does not block on it:
    # dob trains name/id/phone/..., name trains dob.
    for rule in (block_on("dob"), block_on("name")):
        training.estimate_parameters_using_expectation_maximisation(
            rule, estimate_without_term_frequencies=True
        )

    # Materialising the blocked pairs first lets us count exactly what predict()
    # scores; predict() then reuses that cached table, so nothing is computed twice.
    blocked = linker.inference.compute_blocked_pairs_for_predict()
    pairs = blocked.as_duckdbpyrelation().aggregate("count(*)").fetchall()[0][0]

    predictions = linker.inference.predict(threshold_match_probability=args.threshold)
    # Splink does not promise which side of a link_only pair is _l, so pick by source.
    best = predictions.as_duckdbpyrelation().query(
        "p",
        """
        select incoming_id, person_id, match_probability from (
            select
                case when source_dataset_l = 'incoming' then unique_id_l
                     else unique_id_r end as incoming_id,
                case when source_dataset_l = 'incoming' then unique_id_r
                     else unique_id_l end as person_id,
                match_probability
            from p
        )
        qualify row_number() over (
            partition by incoming_id order by match_probability desc, person_id
        ) = 1
        """,
    )
    links = dict((i, p) for i, p, _ in best.fetchall())
    return links, pairs


def read_truth(path):
    rows = duckdb.sql(
        "select trim(incoming_id), nullif(trim(person_id), '') "
        "from read_csv(?, header = true, all_varchar = true)",
        params=[path],
    ).fetchall()
    return dict(rows)


def peak_rss_mb():
    # ru_maxrss is KiB on Linux; DuckDB runs in-process, children are normally 0.
    kib = (
        resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        + resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    )
    return kib / 1024


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--registry", required=True)
    ap.add_argument("--incoming", required=True)
    ap.add_argument("--truth", required=True)
    ap.add_argument("--threshold", type=float, default=0.5)
    ap.add_argument("--u-max-pairs", type=float, default=U_MAX_PAIRS)
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--verbose", action="store_true", help="Splink's INFO log on stderr")
    args = ap.parse_args()

    links, pairs = link(args)
    seconds = time.perf_counter() - T0
    rss = peak_rss_mb()

    truth = read_truth(args.truth)
    correct = sum(1 for i, p in links.items() if truth.get(i) == p)
    with_match = sum(1 for p in truth.values() if p)
    precision = correct / len(links) if links else 0.0
    recall = correct / with_match if with_match else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0

    out = {
        "tool": "splink",
        "version": splink.__version__,
        "seconds": round(seconds, 3),
        "peak_rss_mb": round(rss, 1),
        "precision": round(precision, 4),
        "recall": round(recall, 4),
        "f1": round(f1, 4),
        "pairs_compared": pairs,
    }
    if args.json:
        print(json.dumps(out))
    else:
        print(f"splink {out['version']} (DuckDB {duckdb.__version__})")
        print(f"seconds         {out['seconds']}")
        print(f"peak_rss_mb     {out['peak_rss_mb']}")
        print(f"links           {len(links)} ({correct} correct, {with_match} true)")
        print(f"precision       {out['precision']}")
        print(f"recall          {out['recall']}")
        print(f"f1              {out['f1']}")
        print(f"pairs_compared  {pairs} (blocked pairs scored by predict)")


if __name__ == "__main__":
    sys.exit(main())
