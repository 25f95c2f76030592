//! Fixed output (structured JSON content or tool calls) split into the tokens it is streamed as.

use super::Encoding;

/// What one step of a script sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScriptEvent<'a> {
    /// One token of message content.
    Content(&'a str),
    /// A tool call begins: its id and function name, sent once the name's tokens are generated.
    CallStart {
        /// Index of the call within the message.
        call: usize,
        /// `call_…`.
        id: &'a str,
        /// Function name.
        name: &'a str,
    },
    /// One token of a tool call's arguments.
    CallArgs {
        /// Index of the call within the message.
        call: usize,
        /// The argument text of this token.
        fragment: &'a str,
    },
}

#[derive(Debug, Clone, Copy)]
enum Kind {
    Content,
    CallStart(usize),
    CallArgs(usize),
}

/// One sendable piece: a byte range of the script's text and the tokens it costs.
#[derive(Debug, Clone, Copy)]
struct Piece {
    kind: Kind,
    start: u32,
    end: u32,
    tokens: u32,
}

/// A tool call of a script.
#[derive(Debug, Clone)]
struct Call {
    id: String,
    name: String,
    /// Where its arguments start in the text.
    args_start: usize,
}

/// Fixed output that a choice replays token by token: every token of content or arguments is
/// one event; a tool call's header waits until all its name's tokens are generated, as a tool
/// parser in a real server does.
#[derive(Debug, Clone, Default)]
pub struct Script {
    text: String,
    pieces: Vec<Piece>,
    calls: Vec<Call>,
    /// Pieces replayed so far, and tokens spent on the next one.
    next: usize,
    spent: u32,
}

impl Script {
    /// Message content, one event per token of `text`.
    pub fn content(text: String, encoding: Encoding) -> Self {
        let mut script = Script { text, ..Script::default() };
        script.split(0, Kind::Content, encoding);
        script
    }

    /// Tool calls, given as (id, function name, JSON arguments).
    pub fn tool_calls(calls: Vec<(String, String, String)>, encoding: Encoding) -> Self {
        let mut script = Script::default();
        for (i, (id, name, args)) in calls.into_iter().enumerate() {
            let start = script.text.len();
            script.text.push_str(&name);
            let tokens = encoding.count(&name).max(1) as u32;
            script.pieces.push(Piece {
                kind: Kind::CallStart(i),
                start: start as u32,
                end: script.text.len() as u32,
                tokens,
            });
            let args_start = script.text.len();
            script.text.push_str(&args);
            script.split(args_start, Kind::CallArgs(i), encoding);
            script.calls.push(Call { id, name, args_start });
        }
        script
    }

    /// Splits the text from `from` on into one-token pieces of `kind`.
    fn split(&mut self, from: usize, kind: Kind, encoding: Encoding) {
        let mut start = from;
        for end in encoding.token_ends(&self.text[from..]) {
            let end = from + end;
            self.pieces.push(Piece { kind, start: start as u32, end: end as u32, tokens: 1 });
            start = end;
        }
    }

    /// Tokens the whole script costs.
    pub fn tokens(&self) -> u64 {
        self.pieces.iter().map(|p| u64::from(p.tokens)).sum()
    }

    /// Keeps only the pieces that fit in `max_tokens` (as `max_tokens` cuts a real model off);
    /// says whether anything was cut.
    pub fn truncate(&mut self, max_tokens: u64) -> bool {
        let mut total = 0;
        let keep = self.pieces.iter().take_while(|p| {
            total += u64::from(p.tokens);
            total <= max_tokens
        });
        let keep = keep.count();
        let cut = keep < self.pieces.len();
        self.pieces.truncate(keep);
        let calls = self.pieces.iter().filter(|p| matches!(p.kind, Kind::CallStart(_))).count();
        self.calls.truncate(calls);
        cut
    }

    /// Spends one token; returns the event it completes, if any.
    pub fn tick(&mut self) -> Option<ScriptEvent<'_>> {
        let piece = *self.pieces.get(self.next)?;
        self.spent += 1;
        if self.spent < piece.tokens {
            return None;
        }
        self.spent = 0;
        self.next += 1;
        let text = &self.text[piece.start as usize..piece.end as usize];
        Some(match piece.kind {
            Kind::Content => ScriptEvent::Content(text),
            Kind::CallStart(call) => ScriptEvent::CallStart { call, id: &self.calls[call].id, name: text },
            Kind::CallArgs(call) => ScriptEvent::CallArgs { call, fragment: text },
        })
    }

    /// Whether the script is tool calls rather than content.
    pub fn is_tool_calls(&self) -> bool {
        !self.calls.is_empty() || self.pieces.iter().any(|p| !matches!(p.kind, Kind::Content))
    }

    /// The content kept after truncation.
    pub fn content_text(&self) -> &str {
        let end = self.pieces.last().map_or(0, |p| p.end as usize);
        if self.is_tool_calls() { "" } else { &self.text[..end] }
    }

    /// The content's tokens, one string each.
    pub fn content_pieces(&self) -> impl Iterator<Item = &str> {
        self.pieces
            .iter()
            .filter(|p| matches!(p.kind, Kind::Content))
            .map(|p| &self.text[p.start as usize..p.end as usize])
    }

    /// The calls kept after truncation, as (id, name, arguments sent).
    pub fn calls(&self) -> impl Iterator<Item = (&str, &str, &str)> {
        let end = self.pieces.last().map_or(0, |p| p.end as usize);
        self.calls.iter().enumerate().map(move |(i, c)| {
            let args_end = self.calls.get(i + 1).map_or(end, |next| next.args_start - next.name.len());
            (c.id.as_str(), c.name.as_str(), &self.text[c.args_start..args_end.max(c.args_start)])
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ENC: Encoding = Encoding::Cl100kBase;

    fn drain(s: &mut Script) -> Vec<String> {
        let mut out = Vec::new();
        for _ in 0..s.tokens() {
            match s.tick() {
                Some(ScriptEvent::Content(t)) => out.push(t.to_owned()),
                Some(ScriptEvent::CallStart { call, id, name }) => out.push(format!("[{call} {id} {name}]")),
                Some(ScriptEvent::CallArgs { call, fragment }) => out.push(format!("{call}:{fragment}")),
                None => out.push("-".into()),
            }
        }
        assert_eq!(s.tick(), None);
        out
    }

    #[test]
    fn content_is_one_event_per_token() {
        let text = r#"{"answer": "forty two"}"#;
        let mut s = Script::content(text.to_owned(), ENC);
        assert_eq!(s.tokens(), ENC.count(text) as u64);
        assert_eq!(drain(&mut s).concat(), text);
        assert_eq!(s.content_text(), text);
    }

    #[test]
    fn tool_calls_send_the_header_after_the_name() {
        let calls = vec![
            ("call_a".to_owned(), "get_current_weather".to_owned(), r#"{"city":"Paris"}"#.to_owned()),
            ("call_b".to_owned(), "f".to_owned(), "{}".to_owned()),
        ];
        let mut s = Script::tool_calls(calls, ENC);
        let name_tokens = ENC.count("get_current_weather");
        assert!(name_tokens > 1);
        assert_eq!(s.tokens() as usize, name_tokens + ENC.count(r#"{"city":"Paris"}"#) + 1 + ENC.count("{}"));
        let events = drain(&mut s);
        assert!(events[..name_tokens - 1].iter().all(|e| e == "-"));
        assert_eq!(events[name_tokens - 1], "[0 call_a get_current_weather]");
        assert!(events.contains(&"[1 call_b f]".to_owned()));
        let calls: Vec<_> = s.calls().collect();
        assert_eq!(calls[0], ("call_a", "get_current_weather", r#"{"city":"Paris"}"#));
        assert_eq!(calls[1], ("call_b", "f", "{}"));
        assert_eq!(s.content_text(), "");
    }

    #[test]
    fn truncation_keeps_whole_tokens() {
        let mut s = Script::content(r#"{"answer": "forty two"}"#.to_owned(), ENC);
        assert!(s.truncate(3));
        assert_eq!(s.tokens(), 3);
        assert_eq!(ENC.count(s.content_text()), 3);
        let mut calls = Script::tool_calls(vec![("c".into(), "get_weather".into(), r#"{"a":1}"#.into())], ENC);
        let header = ENC.count("get_weather") as u64;
        assert!(calls.truncate(header + 1));
        assert_eq!(calls.calls().next().unwrap().2, "{\"");
    }
}
