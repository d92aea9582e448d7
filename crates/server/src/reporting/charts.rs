//! Small server-drawn SVG charts (no script, so they print and work offline): stacked
//! bars by month, and the population pyramid. Labels are escaped; values are numbers.

fn escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

/// One bar: its label and stacked values (in the order of the series).
pub struct Bar {
    pub label: String,
    pub values: Vec<i64>,
}

const COLOURS: [&str; 4] = ["#0b6e4f", "#e07a1f", "#4c78a8", "#b279a2"];

/// Stacked vertical bars with a legend; `title` names the chart for screen readers.
pub fn stacked_bars(title: &str, series: &[&str], bars: &[Bar]) -> String {
    let (width, height, left, bottom, top) = (640.0, 240.0, 48.0, 36.0, 28.0);
    let max = bars.iter().map(|b| b.values.iter().copied().filter(|v| *v > 0).sum::<i64>()).max().unwrap_or(0).max(1);
    let plot_h = height - bottom - top;
    let step = (width - left - 8.0) / bars.len().max(1) as f64;
    let mut svg = format!(
        "<svg class=\"chart\" viewBox=\"0 0 {width} {height}\" role=\"img\" aria-label=\"{}\" xmlns=\"http://www.w3.org/2000/svg\">",
        escape(title)
    );
    // Axis with the maximum and zero.
    svg.push_str(&format!(
        "<line x1=\"{left}\" y1=\"{top}\" x2=\"{left}\" y2=\"{}\" stroke=\"#9aa5b1\"/><text x=\"{}\" y=\"{}\" font-size=\"11\" text-anchor=\"end\">{max}</text><text x=\"{}\" y=\"{}\" font-size=\"11\" text-anchor=\"end\">0</text>",
        height - bottom,
        left - 4.0,
        top + 4.0,
        left - 4.0,
        height - bottom
    ));
    for (i, bar) in bars.iter().enumerate() {
        let x = left + 4.0 + i as f64 * step;
        let mut y = height - bottom;
        for (j, v) in bar.values.iter().enumerate() {
            if *v <= 0 {
                continue;
            }
            let h = *v as f64 / max as f64 * plot_h;
            y -= h;
            svg.push_str(&format!(
                "<rect x=\"{x:.1}\" y=\"{y:.1}\" width=\"{:.1}\" height=\"{h:.1}\" fill=\"{}\"><title>{} {}: {v}</title></rect>",
                step * 0.7,
                COLOURS[j % COLOURS.len()],
                escape(&bar.label),
                escape(series.get(j).copied().unwrap_or(""))
            ));
        }
        let total: i64 = bar.values.iter().sum();
        svg.push_str(&format!(
            "<text x=\"{:.1}\" y=\"{:.1}\" font-size=\"10\" text-anchor=\"middle\">{total}</text><text x=\"{:.1}\" y=\"{}\" font-size=\"10\" text-anchor=\"middle\">{}</text>",
            x + step * 0.35,
            y - 3.0,
            x + step * 0.35,
            height - bottom + 14.0,
            escape(&bar.label)
        ));
    }
    push_legend(&mut svg, series, left, height);
    svg.push_str("</svg>");
    svg
}

/// The series' colours and names along the bottom of a chart.
fn push_legend(svg: &mut String, series: &[&str], left: f64, height: f64) {
    for (j, name) in series.iter().enumerate() {
        let x = left + j as f64 * 150.0;
        svg.push_str(&format!(
            "<rect x=\"{x}\" y=\"{}\" width=\"10\" height=\"10\" fill=\"{}\"/><text x=\"{}\" y=\"{}\" font-size=\"11\">{}</text>",
            height - 14.0,
            COLOURS[j % COLOURS.len()],
            x + 14.0,
            height - 5.0,
            escape(name)
        ));
    }
}

/// Bars side by side per label (values to compare, not to add up: precision and recall
/// per threshold), on a scale from 0 to `max`.
pub fn grouped_bars(title: &str, series: &[&str], bars: &[Bar], max: i64) -> String {
    let (width, height, left, bottom, top) = (640.0, 240.0, 48.0, 36.0, 28.0);
    let max = max.max(1);
    let plot_h = height - bottom - top;
    let step = (width - left - 8.0) / bars.len().max(1) as f64;
    let width_each = step * 0.8 / series.len().max(1) as f64;
    let mut svg = format!(
        "<svg class=\"chart\" viewBox=\"0 0 {width} {height}\" role=\"img\" aria-label=\"{}\" xmlns=\"http://www.w3.org/2000/svg\">\
         <line x1=\"{left}\" y1=\"{top}\" x2=\"{left}\" y2=\"{}\" stroke=\"#9aa5b1\"/>\
         <text x=\"{}\" y=\"{}\" font-size=\"11\" text-anchor=\"end\">{max}</text>\
         <text x=\"{}\" y=\"{}\" font-size=\"11\" text-anchor=\"end\">0</text>",
        escape(title),
        height - bottom,
        left - 4.0,
        top + 4.0,
        left - 4.0,
        height - bottom
    );
    for (i, bar) in bars.iter().enumerate() {
        let x0 = left + 4.0 + i as f64 * step;
        for (j, v) in bar.values.iter().enumerate() {
            let h = (*v).clamp(0, max) as f64 / max as f64 * plot_h;
            svg.push_str(&format!(
                "<rect x=\"{:.1}\" y=\"{:.1}\" width=\"{width_each:.1}\" height=\"{h:.1}\" fill=\"{}\"><title>{} {}: {v}</title></rect>",
                x0 + j as f64 * width_each,
                height - bottom - h,
                COLOURS[j % COLOURS.len()],
                escape(&bar.label),
                escape(series.get(j).copied().unwrap_or(""))
            ));
        }
        svg.push_str(&format!(
            "<text x=\"{:.1}\" y=\"{}\" font-size=\"10\" text-anchor=\"middle\">{}</text>",
            x0 + step * 0.4,
            height - bottom + 14.0,
            escape(&bar.label)
        ));
    }
    push_legend(&mut svg, series, left, height);
    svg.push_str("</svg>");
    svg
}

/// The population pyramid: five-year bands, men to the left, women to the right.
pub fn pyramid(title: &str, male: &str, female: &str, bands: &[(i32, i64, i64)]) -> String {
    let (width, row, top) = (640.0, 14.0, 24.0);
    let height = top + row * bands.len() as f64 + 24.0;
    let mid = width / 2.0;
    let max = bands.iter().map(|b| b.1.max(b.2)).max().unwrap_or(0).max(1) as f64;
    let half = mid - 40.0;
    let mut svg = format!(
        "<svg class=\"chart\" viewBox=\"0 0 {width} {height}\" role=\"img\" aria-label=\"{}\" xmlns=\"http://www.w3.org/2000/svg\">",
        escape(title)
    );
    svg.push_str(&format!(
        "<text x=\"{}\" y=\"14\" font-size=\"12\" text-anchor=\"end\">{}</text><text x=\"{}\" y=\"14\" font-size=\"12\">{}</text>",
        mid - 24.0,
        escape(male),
        mid + 24.0,
        escape(female)
    ));
    for (i, (low, m, f)) in bands.iter().rev().enumerate() {
        let y = top + i as f64 * row;
        let wm = *m as f64 / max * half;
        let wf = *f as f64 / max * half;
        let label = if *low >= 90 { "90+".to_string() } else { format!("{low}–{}", low + 4) };
        svg.push_str(&format!(
            "<rect x=\"{:.1}\" y=\"{y:.1}\" width=\"{wm:.1}\" height=\"{:.1}\" fill=\"{}\"><title>{label} {}: {m}</title></rect>\
             <rect x=\"{:.1}\" y=\"{y:.1}\" width=\"{wf:.1}\" height=\"{:.1}\" fill=\"{}\"><title>{label} {}: {f}</title></rect>\
             <text x=\"{mid}\" y=\"{:.1}\" font-size=\"10\" text-anchor=\"middle\">{label}</text>",
            mid - 20.0 - wm,
            row - 2.0,
            COLOURS[2],
            escape(male),
            mid + 20.0,
            row - 2.0,
            COLOURS[1],
            escape(female),
            y + row - 4.0,
        ));
    }
    svg.push_str("</svg>");
    svg
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bars_scale_to_the_largest_and_escape_labels() {
        let svg = stacked_bars(
            "出生 <births>",
            &["男", "女"],
            &[Bar { label: "10月".into(), values: vec![3, 2] }, Bar { label: "11月".into(), values: vec![0, 0] }],
        );
        assert!(svg.contains("&lt;births&gt;"));
        assert!(svg.contains(">5</text>"), "max label");
        assert!(svg.starts_with("<svg") && svg.ends_with("</svg>"));
        let p = pyramid("金字塔", "男", "女", &[(0, 10, 9), (90, 1, 2)]);
        assert!(p.contains("90+"));
    }
}
