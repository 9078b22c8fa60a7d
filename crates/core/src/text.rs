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
