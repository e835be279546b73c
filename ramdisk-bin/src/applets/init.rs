//! `init`: placeholder until its issue lands (removed from the table if unfinished).

pub fn main(_argv: &[&str]) -> u8 {
    crate::report::err(&["init: not implemented yet"]);
    1
}
