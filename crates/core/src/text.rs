//! Text people type, checked at the edge: control characters have no place
//! in a name, a URL or a search, and some cannot be stored at all
//! (PostgreSQL refuses NUL in text), so they are refused with the field
//! named instead of failing deep inside a query.

use crate::import::FieldError;

/// Whether `c` is refused: NUL and the other C0 controls, and DEL; tab and
/// line breaks only where the field is `multiline`.
fn refused(c: char, multiline: bool) -> bool {
    c.is_ascii_control() && !(multiline && matches!(c, '\t' | '\n' | '\r'))
}

/// Checks one typed value; `label` is the field as the admin sees it.
pub fn check(field: &str, label: &str, value: &str, multiline: bool) -> Result<(), FieldError> {
    if value.chars().any(|c| refused(c, multiline)) {
        return Err(FieldError::new(
            field,
            format!(
                "O campo {label} contém caracteres de controle (como NUL ou quebras de linha), \
                 que não são aceitos. Remova-os e tente de novo."
            ),
        ));
    }
    Ok(())
}

/// Checks several values; every field at fault is reported.
pub fn check_all<'a>(
    values: impl IntoIterator<Item = (&'a str, &'a str, Option<&'a str>)>,
) -> Result<(), Vec<FieldError>> {
    let errors: Vec<FieldError> = values
        .into_iter()
        .filter_map(|(field, label, value)| check(field, label, value?, false).err())
        .collect();
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_are_refused_with_the_field_named() {
        assert!(check("nome", "nome", "Importação de março", false).is_ok());
        for bad in ["a\0b", "\u{1b}[31m", "linha\nnova", "x\u{7f}"] {
            let e = check("nome", "nome", bad, false).unwrap_err();
            assert_eq!(e.field, "nome");
            assert!(
                e.message.contains("caracteres de controle"),
                "{}",
                e.message
            );
        }
        assert!(check("obs", "observação", "linha 1\nlinha 2\ttab", true).is_ok());
        assert!(check("obs", "observação", "nul\0", true).is_err());
        let all = check_all([
            ("a", "a", Some("ok")),
            ("b", "b", Some("\0")),
            ("c", "c", None),
            ("d", "d", Some("\u{8}")),
        ])
        .unwrap_err();
        assert_eq!(
            all.iter().map(|e| e.field.as_str()).collect::<Vec<_>>(),
            ["b", "d"]
        );
    }
}

/// A name as customer search compares it: lower case, accents dropped
/// (`JOÃO` is `joao`), every run of other characters one space. Admins
/// type names without accents as often as with them.
pub fn search_words(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut gap = false;
    for c in text.chars().flat_map(char::to_lowercase) {
        match fold_letter(c) {
            Some(c) => {
                if gap && !out.is_empty() {
                    out.push(' ');
                }
                gap = false;
                out.push(c);
            }
            None => gap = true,
        }
    }
    out
}

/// `c` (already lower case) as a plain ASCII letter or digit, or `None`
/// for a separator.
fn fold_letter(c: char) -> Option<char> {
    Some(match c {
        'a'..='z' | '0'..='9' => c,
        'á' | 'à' | 'â' | 'ã' | 'ä' | 'å' | 'ª' => 'a',
        'é' | 'è' | 'ê' | 'ë' => 'e',
        'í' | 'ì' | 'î' | 'ï' => 'i',
        'ó' | 'ò' | 'ô' | 'õ' | 'ö' | 'º' => 'o',
        'ú' | 'ù' | 'û' | 'ü' => 'u',
        'ç' => 'c',
        'ñ' => 'n',
        'ý' | 'ÿ' => 'y',
        _ => return None,
    })
}

/// Whether every one of `wanted` starts some word of `words` (both as
/// [`search_words`] makes them): "maria sil" finds "MARIA DA SILVA".
pub fn words_match(words: &str, wanted: &[String]) -> bool {
    wanted
        .iter()
        .all(|w| words.split(' ').any(|word| word.starts_with(w.as_str())))
}

#[cfg(test)]
mod search_tests {
    use super::*;

    #[test]
    fn folds_case_accents_and_punctuation() {
        assert_eq!(
            search_words("JOÃO  da Conceição-Ávila"),
            "joao da conceicao avila"
        );
        assert_eq!(
            search_words("  D'ÁVILA & FILHOS LTDA. "),
            "d avila filhos ltda"
        );
        assert_eq!(search_words("%_\\"), "");
        assert_eq!(search_words("Nº 10"), "no 10");
    }

    #[test]
    fn every_typed_word_starts_a_word() {
        let words = search_words("MARIA DA SILVA SOUZA");
        let wanted = |s: &str| {
            search_words(s)
                .split(' ')
                .map(str::to_owned)
                .collect::<Vec<_>>()
        };
        assert!(words_match(&words, &wanted("silva maria")));
        assert!(words_match(&words, &wanted("sou")));
        assert!(!words_match(&words, &wanted("ilva")), "inside a word");
        assert!(!words_match(&words, &wanted("maria costa")), "every word");
    }
}
