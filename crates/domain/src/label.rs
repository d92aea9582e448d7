//! Coded values carry a Chinese and an English label; pages pick one by the reader's
//! language (zh-CN first, English on request).

/// A value shown to people under a fixed Chinese and English label.
pub trait Labelled: Copy {
    fn label_zh(self) -> &'static str;
    fn label_en(self) -> &'static str;
}

/// Implements [`Labelled`] for a type whose inherent `label_zh`/`label_en` already exist.
#[macro_export]
macro_rules! labelled {
    ($($ty:ty),+ $(,)?) => {
        $(impl $crate::label::Labelled for $ty {
            fn label_zh(self) -> &'static str { <$ty>::label_zh(self) }
            fn label_en(self) -> &'static str { <$ty>::label_en(self) }
        })+
    };
}
