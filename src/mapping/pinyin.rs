//! The `pinyin` transform: a Chinese name as a readable account name (张三 → zhangsan).
//!
//! Readings come from the `pinyin` crate's dictionary (pinyin-data), which gives each character
//! its most common reading. Names are where that goes wrong most: a surname is read differently
//! from the same character in a word (单 is Shàn, not dān; 曾 is Zēng, not céng), so a name's first
//! character is read as a surname when it is one of those. Latin letters and digits are kept,
//! lower-cased, so a mixed name stays readable (王Tony → wangtony); anything else is dropped.

use pinyin::ToPinyin;

/// Surnames whose reading differs from their character's most common one, as the
/// 《中国姓氏》 readings give them.
const SURNAMES: &[(char, &str)] = &[
    ('单', "shan"),
    ('曾', "zeng"),
    ('解', "xie"),
    ('区', "ou"),
    ('仇', "qiu"),
    ('朴', "piao"),
    ('查', "zha"),
    ('盖', "ge"),
    ('繁', "po"),
    ('黑', "he"),
    ('覃', "qin"),
    ('尉', "yu"),
    ('乐', "yue"),
    ('员', "yun"),
    ('种', "chong"),
    ('秘', "bi"),
    ('冼', "xian"),
    ('缪', "miao"),
    ('长', "chang"),
    ('沈', "shen"),
    ('翟', "zhai"),
    ('召', "shao"),
    ('褚', "chu"),
    ('於', "yu"),
    ('万', "wan"),
    ('燕', "yan"),
    ('宁', "ning"),
    ('折', "she"),
    ('阚', "kan"),
    ('藏', "zang"),
];

pub(super) fn romanize(name: &str) -> String {
    let mut out = String::with_capacity(name.len() * 2);
    let mut first_han = true;
    for c in name.chars() {
        if let Some(reading) = first_han
            .then(|| SURNAMES.iter().find(|(s, _)| *s == c))
            .flatten()
        {
            out.push_str(reading.1);
            first_han = false;
        } else if let Some(reading) = c.to_pinyin() {
            // The dictionary writes ü (lü, nü); account names spell it v, as pinyin keyboards do.
            out.extend(
                reading
                    .plain()
                    .chars()
                    .map(|c| if c == 'ü' { 'v' } else { c }),
            );
            first_han = false;
        } else if c.is_ascii_alphanumeric() {
            out.push(c.to_ascii_lowercase());
        } else if c == 'ü' || c == 'Ü' {
            out.push('v');
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::romanize;

    #[test]
    fn chinese_names_read_as_pinyin_without_tones() {
        assert_eq!(romanize("张三"), "zhangsan");
        assert_eq!(romanize("林晓"), "linxiao");
        assert_eq!(romanize("吕布"), "lvbu");
    }

    #[test]
    fn a_polyphonic_surname_is_read_as_a_surname() {
        assert_eq!(romanize("单田芳"), "shantianfang");
        assert_eq!(romanize("曾国藩"), "zengguofan");
        // Only the first character is a surname: 单 later in a name keeps its common reading.
        assert_eq!(romanize("王单"), "wangdan");
    }

    #[test]
    fn latin_letters_and_digits_stay_readable() {
        assert_eq!(romanize("王Tony"), "wangtony");
        assert_eq!(romanize("Alice Chen 陈"), "alicechenchen");
        assert_eq!(romanize("李 2号"), "li2hao");
        assert_eq!(romanize("—"), "");
    }
}
