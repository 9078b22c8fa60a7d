//! CPF (people) and CNPJ (companies): Brazil's tax ids, with check digits.

use std::fmt;

/// A CPF (11 digits) or CNPJ (14 digits) whose check digits are right.
/// Holds the bare digits; `formatted` gives the usual mask.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct CpfCnpj(String);

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DocumentError {
    #[error("CPF/CNPJ vazio")]
    Empty,
    #[error("CPF/CNPJ com {0} dígitos (esperado 11 ou 14)")]
    Length(usize),
    #[error("CPF/CNPJ com dígitos verificadores inválidos")]
    CheckDigits,
    #[error("CPF/CNPJ com todos os dígitos iguais")]
    Repeated,
}

impl CpfCnpj {
    /// Accepts masked (`043.918.595-56`) or bare input.
    pub fn parse(input: &str) -> Result<Self, DocumentError> {
        let digits: String = input.chars().filter(|c| c.is_ascii_digit()).collect();
        if digits.is_empty() {
            return Err(DocumentError::Empty);
        }
        let d: Vec<u32> = digits
            .chars()
            .map(|c| c.to_digit(10).unwrap_or(0))
            .collect();
        match d.len() {
            11 | 14 => {}
            n => return Err(DocumentError::Length(n)),
        }
        if d.iter().all(|x| *x == d[0]) {
            return Err(DocumentError::Repeated);
        }
        let n = d.len();
        let (first, second) = check_digits(&d[..n - 2]);
        if d[n - 2] != first || d[n - 1] != second {
            return Err(DocumentError::CheckDigits);
        }
        Ok(CpfCnpj(digits))
    }

    pub fn digits(&self) -> &str {
        &self.0
    }

    pub fn is_company(&self) -> bool {
        self.0.len() == 14
    }

    /// `043.918.595-56` or `12.345.678/0001-95`.
    pub fn formatted(&self) -> String {
        let s = &self.0;
        if self.is_company() {
            format!(
                "{}.{}.{}/{}-{}",
                &s[0..2],
                &s[2..5],
                &s[5..8],
                &s[8..12],
                &s[12..14]
            )
        } else {
            format!("{}.{}.{}-{}", &s[0..3], &s[3..6], &s[6..9], &s[9..11])
        }
    }
}

impl fmt::Display for CpfCnpj {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.formatted())
    }
}

/// The two check digits for a CPF body (9 digits) or CNPJ body (12).
pub fn check_digits(body: &[u32]) -> (u32, u32) {
    let digit = |digits: &[u32]| -> u32 {
        let weights: Vec<u32> = if body.len() == 9 {
            // CPF: 10, 9, ... then 11, 10, ...
            (2..=digits.len() as u32 + 1).rev().collect()
        } else {
            // CNPJ: 5,4,3,2,9,8,7,6,5,4,3,2 then 6,5,4,3,2,9,...
            let mut w: Vec<u32> = Vec::new();
            let mut x = 2;
            for _ in 0..digits.len() {
                w.push(x);
                x = if x == 9 { 2 } else { x + 1 };
            }
            w.reverse();
            w
        };
        let sum: u32 = digits.iter().zip(weights).map(|(d, w)| d * w).sum();
        let r = sum % 11;
        if r < 2 {
            0
        } else {
            11 - r
        }
    };
    let first = digit(body);
    let mut with_first = body.to_vec();
    with_first.push(first);
    (first, digit(&with_first))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_valid_cpf_and_cnpj_masked_or_bare() {
        let cpf = CpfCnpj::parse("043.918.595-56").unwrap();
        assert_eq!(cpf.digits(), "04391859556");
        assert_eq!(cpf.formatted(), "043.918.595-56");
        assert!(!cpf.is_company());
        let cnpj = CpfCnpj::parse("11222333000181").unwrap();
        assert_eq!(cnpj.formatted(), "11.222.333/0001-81");
        assert!(cnpj.is_company());
    }

    #[test]
    fn rejects_bad_input_with_the_reason() {
        assert_eq!(CpfCnpj::parse(""), Err(DocumentError::Empty));
        assert_eq!(CpfCnpj::parse("abc"), Err(DocumentError::Empty));
        assert_eq!(CpfCnpj::parse("123.456"), Err(DocumentError::Length(6)));
        assert_eq!(
            CpfCnpj::parse("043.918.595-57"),
            Err(DocumentError::CheckDigits)
        );
        assert_eq!(
            CpfCnpj::parse("11.222.333/0001-82"),
            Err(DocumentError::CheckDigits)
        );
        assert_eq!(
            CpfCnpj::parse("111.111.111-11"),
            Err(DocumentError::Repeated)
        );
    }
}
