//! 18-digit resident identity numbers (居民身份号码, GB 11643-1999), phone numbers and name
//! masking.
//!
//! "Parse, don't validate": an [`IdNumber`] or [`Phone`] value can only exist if it passed the
//! checks, so code holding one never re-checks. Errors carry Chinese messages a window clerk can
//! act on. `Debug` of both types prints the masked form so personal data does not end up in logs
//! by accident; `Display` and `as_str` give the full value.

use std::fmt;
use std::str::FromStr;

use chrono::{Datelike, NaiveDate};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// GB 11643 weights for the first 17 digits.
const WEIGHTS: [u32; 17] = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
/// Check character for (weighted sum mod 11).
const CHECK_CHARS: [char; 11] = ['1', '0', 'X', '9', '8', '7', '6', '5', '4', '3', '2'];

/// Why a string is not a valid 18-digit resident ID number.
#[derive(thiserror::Error, Debug, Clone, PartialEq, Eq)]
pub enum IdNumberError {
    #[error("身份证号码应为18位，实际为{actual}位")]
    WrongLength { actual: usize },
    #[error("身份证号码第{position}位“{found}”不是数字，请核对")]
    NotADigit { position: usize, found: char },
    #[error("身份证号码第18位只能是数字或X，实际为“{found}”，请核对")]
    BadLastChar { found: char },
    #[error("身份证号码中的出生日期 {0} 无效")]
    InvalidBirthDate(String),
    #[error("身份证号码校验位错误（应为 {expected}，实际为 {found}），请核对")]
    CheckDigit { expected: char, found: char },
}

/// Sex as encoded by the 17th digit (odd = male).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Sex {
    Male,
    Female,
}

impl Sex {
    /// "男" or "女".
    pub fn as_str(self) -> &'static str {
        match self {
            Sex::Male => "男",
            Sex::Female => "女",
        }
    }
}

impl fmt::Display for Sex {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// GB 11643 check character for the first 17 characters, which must be ASCII digits.
/// Returns `None` if `first17` is not exactly 17 ASCII digits.
pub fn id_check_char(first17: &str) -> Option<char> {
    if first17.len() != 17 || !first17.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let sum: u32 = first17
        .bytes()
        .zip(WEIGHTS)
        .map(|(b, w)| u32::from(b - b'0') * w)
        .sum();
    CHECK_CHARS.get((sum % 11) as usize).copied()
}

/// A checked 18-digit resident ID number (last character a digit or uppercase `X`).
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct IdNumber(String);

impl IdNumber {
    /// Parse and check an ID number: trims whitespace; 18 characters; 17 digits then a digit or
    /// `X` (lowercase `x` accepted and stored uppercase); a real birth date (year >= 1900) at
    /// positions 7–14; the GB 11643 check character.
    pub fn parse(input: &str) -> Result<IdNumber, IdNumberError> {
        let s = input.trim();
        let chars: Vec<char> = s.chars().collect();
        if chars.len() != 18 {
            return Err(IdNumberError::WrongLength {
                actual: chars.len(),
            });
        }
        for (i, &c) in chars[..17].iter().enumerate() {
            if !c.is_ascii_digit() {
                return Err(IdNumberError::NotADigit {
                    position: i + 1,
                    found: c,
                });
            }
        }
        let last = match chars[17] {
            c @ '0'..='9' => c,
            'X' | 'x' => 'X',
            c => return Err(IdNumberError::BadLastChar { found: c }),
        };
        // All 18 characters are ASCII now, so byte slicing is safe.
        let birth = &s[6..14];
        if parse_birth(birth).is_none() {
            return Err(IdNumberError::InvalidBirthDate(birth.to_string()));
        }
        let first17 = &s[..17];
        let expected = id_check_char(first17).unwrap_or('?');
        if expected != last {
            return Err(IdNumberError::CheckDigit {
                expected,
                found: last,
            });
        }
        let mut value = String::with_capacity(18);
        value.push_str(first17);
        value.push(last);
        Ok(IdNumber(value))
    }

    /// The full number (uppercase `X`).
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Birth date encoded at positions 7–14.
    pub fn birth_date(&self) -> NaiveDate {
        // Checked in `parse`; the fallback is unreachable.
        parse_birth(&self.0[6..14]).unwrap_or(NaiveDate::MIN)
    }

    /// Sex from the 17th digit: odd = male, even = female.
    pub fn sex(&self) -> Sex {
        if self.0.as_bytes()[16] % 2 == 1 {
            Sex::Male
        } else {
            Sex::Female
        }
    }

    /// Age in completed years on `date` (0 if `date` is before the birth date). Someone born
    /// on 29 February becomes a year older on 1 March in non-leap years.
    pub fn age_on(&self, date: NaiveDate) -> u32 {
        let birth = self.birth_date();
        let mut years = date.year() - birth.year();
        if (date.month(), date.day()) < (birth.month(), birth.day()) {
            years -= 1;
        }
        u32::try_from(years).unwrap_or(0)
    }

    /// Administrative division code (first 6 digits).
    pub fn region_code(&self) -> &str {
        &self.0[..6]
    }

    /// First 3 and last 4 characters kept, the rest `*`: `330***********123X`.
    pub fn masked(&self) -> String {
        format!("{}{}{}", &self.0[..3], "*".repeat(11), &self.0[14..])
    }
}

fn parse_birth(yyyymmdd: &str) -> Option<NaiveDate> {
    if yyyymmdd.len() != 8 || !yyyymmdd.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let year: i32 = yyyymmdd[..4].parse().ok()?;
    let month: u32 = yyyymmdd[4..6].parse().ok()?;
    let day: u32 = yyyymmdd[6..8].parse().ok()?;
    if year < 1900 {
        return None;
    }
    NaiveDate::from_ymd_opt(year, month, day)
}

impl fmt::Display for IdNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for IdNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "IdNumber({})", self.masked())
    }
}

impl FromStr for IdNumber {
    type Err = IdNumberError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        IdNumber::parse(s)
    }
}

impl AsRef<str> for IdNumber {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl Serialize for IdNumber {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for IdNumber {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let s = String::deserialize(deserializer)?;
        IdNumber::parse(&s).map_err(serde::de::Error::custom)
    }
}

/// Why a string is not a valid phone number.
#[derive(thiserror::Error, Debug, Clone, PartialEq, Eq)]
pub enum PhoneError {
    #[error("未填写电话号码")]
    Empty,
    #[error(
        "电话号码格式不正确：手机号应为1开头的11位数字（第二位为3–9），\
         固定电话应为0开头的区号加7–8位号码（如 0571-12345678）"
    )]
    Invalid,
}

/// A mainland mobile number (`1[3-9]` + 9 digits) or a landline (`0` + 2–3 digit area code,
/// optional `-`, 7–8 digits), stored as entered (trimmed).
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Phone(String);

impl Phone {
    /// Parse a mobile or landline number.
    pub fn parse(input: &str) -> Result<Phone, PhoneError> {
        let s = input.trim();
        if s.is_empty() {
            return Err(PhoneError::Empty);
        }
        if is_mobile(s) || is_landline(s) {
            Ok(Phone(s.to_string()))
        } else {
            Err(PhoneError::Invalid)
        }
    }

    /// The number as entered (trimmed).
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether this is a mobile number.
    pub fn is_mobile(&self) -> bool {
        is_mobile(&self.0)
    }

    /// First 3 and last 4 characters kept, the digits between masked (`138****5678`;
    /// a landline keeps its `-`: `057*-****5678`).
    pub fn masked(&self) -> String {
        let n = self.0.len(); // ASCII only
        self.0
            .chars()
            .enumerate()
            .map(|(i, c)| {
                if i < 3 || i + 4 >= n || c == '-' {
                    c
                } else {
                    '*'
                }
            })
            .collect()
    }
}

fn all_digits(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())
}

fn is_mobile(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 11 && all_digits(s) && b[0] == b'1' && (b'3'..=b'9').contains(&b[1])
}

fn is_landline(s: &str) -> bool {
    if !s.starts_with('0') {
        return false;
    }
    match s.split_once('-') {
        // 0 + 2–3 digit area code, then 7–8 digits.
        Some((area, number)) => {
            all_digits(area)
                && (3..=4).contains(&area.len())
                && all_digits(number)
                && (7..=8).contains(&number.len())
        }
        // Without the dash: 3–4 digit area code + 7–8 digits = 10–12 digits.
        None => all_digits(s) && (10..=12).contains(&s.len()),
    }
}

impl fmt::Display for Phone {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for Phone {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Phone({})", self.masked())
    }
}

impl FromStr for Phone {
    type Err = PhoneError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Phone::parse(s)
    }
}

impl Serialize for Phone {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for Phone {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let s = String::deserialize(deserializer)?;
        Phone::parse(&s).map_err(serde::de::Error::custom)
    }
}

/// Mask any stored number (an ID number, valid or not, a passport number, a phone): the first 3
/// and last 4 characters kept when there are at least 8, every character masked otherwise
/// (`330***********123X` for an 18-character ID number, as [`IdNumber::masked`]).
pub fn mask_number(s: &str) -> String {
    let n = s.chars().count();
    s.chars()
        .enumerate()
        .map(|(i, c)| {
            if n >= 8 && (i < 3 || i + 4 >= n) {
                c
            } else {
                '*'
            }
        })
        .collect()
}

/// Keep the first character of a name and mask the rest with `*`, by characters:
/// "张三丰" → "张**".
pub fn mask_name(name: &str) -> String {
    let mut chars = name.trim().chars();
    match chars.next() {
        Some(first) => std::iter::once(first).chain(chars.map(|_| '*')).collect(),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(y: i32, m: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, day).unwrap()
    }

    /// Independent check-digit computation for tests (plain arithmetic over chars).
    fn make_id(first17: &str) -> String {
        let weights = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
        let sum: u32 = first17
            .chars()
            .zip(weights)
            .map(|(c, w)| c.to_digit(10).unwrap() * w)
            .sum();
        let check = "10X98765432".chars().nth((sum % 11) as usize).unwrap();
        format!("{first17}{check}")
    }

    #[test]
    fn known_valid_examples() {
        // Standard published example. Hand check: digits 1,1,0,1,0,5,1,9,4,9,1,2,3,1,0,0,2
        // times weights = 7+9+0+5+0+20+2+9+24+27+7+18+30+5+0+0+4 = 167; 167 mod 11 = 2 → 'X'.
        let id = IdNumber::parse("11010519491231002X").unwrap();
        assert_eq!(id.as_str(), "11010519491231002X");
        assert_eq!(id.birth_date(), d(1949, 12, 31));
        assert_eq!(id.sex(), Sex::Female); // 17th digit 2
        assert_eq!(id.region_code(), "110105");
        // Hand check: 3,3,0,1,0,6,1,9,9,0,0,3,0,7,1,2,3 →
        // 21+27+0+5+0+24+2+9+54+0+0+27+0+35+8+8+6 = 226; 226 mod 11 = 6 → '6'.
        let id = IdNumber::parse("330106199003071236").unwrap();
        assert_eq!(id.birth_date(), d(1990, 3, 7));
        assert_eq!(id.sex(), Sex::Male); // 17th digit 3
        assert_eq!(id.sex().as_str(), "男");
        assert_eq!(id.to_string(), "330106199003071236");
    }

    #[test]
    fn computed_valid_numbers_parse() {
        for first17 in [
            "33010219850615002",
            "44030520000229123",
            "51010719001231456",
            "62010220240101789",
            "11010119991231000",
        ] {
            let full = make_id(first17);
            let id = IdNumber::parse(&full).unwrap_or_else(|e| panic!("{full}: {e}"));
            assert_eq!(id.as_str(), full);
            assert_eq!(id_check_char(first17), full.chars().last());
        }
    }

    #[test]
    fn wrong_check_digit_names_the_expected_one() {
        // 11010519491231002X with the last char changed to 1.
        let err = IdNumber::parse("110105194912310021").unwrap_err();
        assert_eq!(
            err,
            IdNumberError::CheckDigit {
                expected: 'X',
                found: '1'
            }
        );
        assert!(err.to_string().contains("身份证号码校验位错误（应为 X"));
        // A swapped digit in the body is caught too.
        assert!(matches!(
            IdNumber::parse("11010519491213002X"),
            Err(IdNumberError::CheckDigit { .. })
        ));
    }

    #[test]
    fn bad_birth_dates() {
        let feb30 = make_id("11010519900230001");
        assert_eq!(
            IdNumber::parse(&feb30).unwrap_err(),
            IdNumberError::InvalidBirthDate("19900230".into())
        );
        let month13 = make_id("11010519901340001");
        let err = IdNumber::parse(&month13).unwrap_err();
        assert_eq!(err.to_string(), "身份证号码中的出生日期 19901340 无效");
        let too_old = make_id("11010518991231001");
        assert!(matches!(
            IdNumber::parse(&too_old),
            Err(IdNumberError::InvalidBirthDate(_))
        ));
        // Feb 29 only in leap years.
        assert!(IdNumber::parse(&make_id("11010520010229001")).is_err());
        assert!(IdNumber::parse(&make_id("11010520000229001")).is_ok());
    }

    #[test]
    fn wrong_length_and_characters() {
        let err = IdNumber::parse("11010519491231002").unwrap_err();
        assert_eq!(err, IdNumberError::WrongLength { actual: 17 });
        assert_eq!(err.to_string(), "身份证号码应为18位，实际为17位");
        assert_eq!(
            IdNumber::parse("").unwrap_err(),
            IdNumberError::WrongLength { actual: 0 }
        );
        assert_eq!(
            IdNumber::parse("11010519491231002X1").unwrap_err(),
            IdNumberError::WrongLength { actual: 19 }
        );
        // Multibyte characters are counted as characters.
        assert_eq!(
            IdNumber::parse("１１010519491231002X").unwrap_err(),
            IdNumberError::NotADigit {
                position: 1,
                found: '１'
            }
        );
        assert_eq!(
            IdNumber::parse("1101051949123100X2").unwrap_err(),
            IdNumberError::NotADigit {
                position: 17,
                found: 'X'
            }
        );
        assert_eq!(
            IdNumber::parse("11010519491231002Y").unwrap_err(),
            IdNumberError::BadLastChar { found: 'Y' }
        );
    }

    #[test]
    fn lowercase_x_and_whitespace_are_normalised() {
        let id = IdNumber::parse("  11010519491231002x\n").unwrap();
        assert_eq!(id.as_str(), "11010519491231002X");
        assert_eq!(id, IdNumber::parse("11010519491231002X").unwrap());
    }

    #[test]
    fn age_on_birthday_and_day_before() {
        let id = IdNumber::parse("330106199003071236").unwrap(); // born 1990-03-07
        assert_eq!(id.age_on(d(2026, 3, 6)), 35);
        assert_eq!(id.age_on(d(2026, 3, 7)), 36);
        assert_eq!(id.age_on(d(1990, 3, 7)), 0);
        assert_eq!(id.age_on(d(1980, 1, 1)), 0);
    }

    #[test]
    fn leap_day_birth_ages_on_march_first() {
        let id = IdNumber::parse(&make_id("44030520000229123")).unwrap(); // born 2000-02-29
        assert_eq!(id.birth_date(), d(2000, 2, 29));
        assert_eq!(id.age_on(d(2018, 2, 28)), 17);
        assert_eq!(id.age_on(d(2018, 3, 1)), 18);
        assert_eq!(id.age_on(d(2020, 2, 28)), 19);
        assert_eq!(id.age_on(d(2020, 2, 29)), 20);
    }

    #[test]
    fn id_masking_and_debug() {
        let id = IdNumber::parse("330106199003071236").unwrap();
        assert_eq!(id.masked(), "330***********1236");
        let id = IdNumber::parse("11010519491231002X").unwrap();
        assert_eq!(id.masked(), "110***********002X");
        assert_eq!(format!("{id:?}"), "IdNumber(110***********002X)");
    }

    #[test]
    fn id_serde_roundtrip_validates() {
        let id = IdNumber::parse("11010519491231002x").unwrap();
        let json = serde_json::to_string(&id).unwrap();
        assert_eq!(json, "\"11010519491231002X\"");
        let back: IdNumber = serde_json::from_str("\"11010519491231002x\"").unwrap();
        assert_eq!(back, id);
        let err = serde_json::from_str::<IdNumber>("\"110105194912310021\"").unwrap_err();
        assert!(err.to_string().contains("校验位错误"), "{err}");
    }

    #[test]
    fn phones() {
        let m = Phone::parse(" 13812345678 ").unwrap();
        assert_eq!(m.as_str(), "13812345678");
        assert!(m.is_mobile());
        assert_eq!(m.masked(), "138****5678");
        assert_eq!(format!("{m:?}"), "Phone(138****5678)");
        assert!(Phone::parse("19912345678").is_ok());
        for bad in [
            "12812345678",
            "1381234567",
            "138123456789",
            "2381234567a",
            "138-1234-5678",
        ] {
            assert_eq!(Phone::parse(bad).unwrap_err(), PhoneError::Invalid, "{bad}");
        }
        assert_eq!(Phone::parse("  ").unwrap_err(), PhoneError::Empty);
        assert!(PhoneError::Invalid
            .to_string()
            .contains("手机号应为1开头的11位数字"));

        for ok in [
            "0571-12345678",
            "010-1234567",
            "057112345678",
            "0101234567",
            "0851-1234567",
        ] {
            let p = Phone::parse(ok).unwrap_or_else(|e| panic!("{ok}: {e}"));
            assert!(!p.is_mobile(), "{ok}");
        }
        for bad in [
            "0-12345678",
            "05712-12345678",
            "0571-123456",
            "0571-123456789",
            "571-12345678",
            "010123456",
        ] {
            assert!(Phone::parse(bad).is_err(), "{bad}");
        }
        assert_eq!(
            Phone::parse("0571-12345678").unwrap().masked(),
            "057*-****5678"
        );
        let p: Phone = serde_json::from_str("\"13812345678\"").unwrap();
        assert_eq!(serde_json::to_string(&p).unwrap(), "\"13812345678\"");
        assert!(serde_json::from_str::<Phone>("\"12345\"").is_err());
    }

    #[test]
    fn any_number_masks_like_an_id_number() {
        assert_eq!(mask_number("33010619900101123X"), "330***********123X");
        assert_eq!(mask_number("13812345678"), "138****5678");
        assert_eq!(mask_number("E1234"), "*****");
    }

    #[test]
    fn name_masking_by_chars() {
        assert_eq!(mask_name("张三丰"), "张**");
        assert_eq!(mask_name("李四"), "李*");
        assert_eq!(mask_name("欧阳娜娜"), "欧***");
        assert_eq!(mask_name("阿卜杜拉·买买提"), "阿*******");
        assert_eq!(mask_name("王"), "王");
        assert_eq!(mask_name(""), "");
        assert_eq!(mask_name("Zhang San"), "Z********");
    }
}
