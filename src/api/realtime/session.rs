//! The Realtime session state machine, sans-IO: client messages and the time go in, server
//! events come out with the time each is due. The socket loop only moves bytes and sleeps.

use std::{collections::VecDeque, time::Duration};

use base64::Engine as _;
use serde_json::{Map, Value, json};

use super::{
    response::{Active, Ending},
    vad::{self, Settings, Turn, Vad},
};
use crate::{
    generation::SimConfig,
    rng::Rng,
    sim::Schedule,
    tokens::{Encoding, TextGen},
};

/// Input audio tokens per second (OpenAI bills input audio at one token per 100 ms).
const INPUT_AUDIO_MS_PER_TOKEN: u64 = 100;
/// The least audio a commit accepts, ms.
const MIN_COMMIT_MS: u64 = 100;
/// Client event types this server understands (named in the error for any other).
const CLIENT_EVENTS: &[&str] = &[
    "session.update",
    "input_audio_buffer.append",
    "input_audio_buffer.commit",
    "input_audio_buffer.clear",
    "conversation.item.create",
    "conversation.item.delete",
    "conversation.item.retrieve",
    "conversation.item.truncate",
    "response.create",
    "response.cancel",
];

/// What a session needs from the server's settings.
#[derive(Debug, Clone)]
pub struct Config {
    /// Timing and length of generations, as for chat.
    pub sim: SimConfig,
    /// The tokenizer that counts prompt text.
    pub encoding: Encoding,
}

/// One conversation item and the audio it carries.
#[derive(Debug)]
struct Item {
    json: Value,
    audio_ms: u64,
}

/// A client event refused: OpenAI's `error` event fields.
struct Refusal {
    code: &'static str,
    message: String,
    param: Option<&'static str>,
}

fn refuse(code: &'static str, param: Option<&'static str>, message: impl Into<String>) -> Refusal {
    Refusal { code, message: message.into(), param }
}

/// One Realtime session.
#[derive(Debug)]
pub struct Session {
    config: Config,
    rng: Rng,
    /// The `session` object as `session.created` and `session.updated` show it.
    session: Value,
    conversation_id: String,
    items: Vec<Item>,
    /// Bytes of uncommitted input audio.
    buffered: Vec<u8>,
    vad: Vad,
    /// The user item the current speech becomes.
    speech_item: Option<String>,
    /// Events due now, in order.
    ready: VecDeque<Value>,
    active: Option<Active>,
}

impl Session {
    /// A session for `model`, opened at unix second `unix_now`; `session.created` is ready.
    pub fn new(config: Config, model: &str, seed: u64, unix_now: u64) -> Session {
        let mut rng = Rng::new(seed);
        let id = random_id(&mut rng, "sess_");
        let conversation_id = random_id(&mut rng, "conv_");
        let session = json!({
            "type": "realtime",
            "object": "realtime.session",
            "id": id,
            "model": model,
            "output_modalities": ["audio"],
            "instructions": "",
            "tools": [],
            "tool_choice": "auto",
            "max_output_tokens": "inf",
            "tracing": null,
            "truncation": "auto",
            "prompt": null,
            "expires_at": unix_now + 30 * 60,
            "include": null,
            "audio": {
                "input": {
                    "format": {"type": "audio/pcm", "rate": 24000},
                    "transcription": null,
                    "noise_reduction": null,
                    "turn_detection": {"type": "server_vad", "threshold": 0.5, "prefix_padding_ms": 300,
                        "silence_duration_ms": 200, "idle_timeout_ms": null, "create_response": true,
                        "interrupt_response": true},
                },
                "output": {"format": {"type": "audio/pcm", "rate": 24000}, "voice": "alloy", "speed": 1.0},
            },
        });
        let mut s = Session {
            config,
            rng,
            session,
            conversation_id,
            items: Vec::new(),
            buffered: Vec::new(),
            vad: Vad::default(),
            speech_item: None,
            ready: VecDeque::new(),
            active: None,
        };
        let event = s.event("session.created", json!({"session": s.session}));
        s.ready.push_back(event);
        s
    }

    /// Takes one client message received at `now` (from the connection's start).
    pub fn receive(&mut self, text: &str, now: Duration) {
        let message: Value = match serde_json::from_str(text) {
            Ok(v @ Value::Object(_)) => v,
            Ok(_) => return self.error(None, refuse("invalid_json", None, "The event must be a JSON object.")),
            Err(e) => return self.error(None, refuse("invalid_json", None, format!("Invalid JSON: {e}"))),
        };
        let client_event_id = message.get("event_id").and_then(Value::as_str).map(str::to_owned);
        if let Err(r) = self.dispatch(&message, now) {
            self.error(client_event_id, r);
        }
    }

    /// The next event due by `now`, serialized.
    pub fn poll(&mut self, now: Duration) -> Option<String> {
        if self.ready.is_empty() {
            let due = self.active.as_ref().and_then(Active::next_due)?;
            if due > now {
                return None;
            }
            self.emit_token();
        }
        self.ready.pop_front().map(|v| v.to_string())
    }

    /// When the next event is due (now if one is ready), or None when idle.
    pub fn next_due(&self) -> Option<Duration> {
        match self.ready.is_empty() {
            false => Some(Duration::ZERO),
            true => self.active.as_ref().and_then(Active::next_due),
        }
    }

    fn dispatch(&mut self, m: &Value, now: Duration) -> Result<(), Refusal> {
        let kind = m
            .get("type")
            .and_then(Value::as_str)
            .ok_or_else(|| refuse("missing_required_parameter", Some("type"), "Missing required parameter: 'type'."))?;
        match kind {
            "session.update" => self.update_session(m),
            "input_audio_buffer.append" => self.append(m, now),
            "input_audio_buffer.commit" => self.commit(None),
            "input_audio_buffer.clear" => {
                self.buffered.clear();
                self.vad.reset_turn();
                self.speech_item = None;
                self.push("input_audio_buffer.cleared", json!({}));
                Ok(())
            }
            "conversation.item.create" => self.create_item(m),
            "conversation.item.delete" => self.delete_item(m),
            "conversation.item.retrieve" => {
                let at = self.find_item(m, "item_retrieve_invalid_item_id")?;
                let item = self.items[at].json.clone();
                self.push("conversation.item.retrieved", json!({"item": item}));
                Ok(())
            }
            "conversation.item.truncate" => self.truncate_item(m),
            "response.create" => self.create_response(m.get("response").unwrap_or(&Value::Null), now),
            "response.cancel" => match self.active.is_some() {
                true => {
                    self.finish(Ending::Cancelled);
                    Ok(())
                }
                false => {
                    Err(refuse("response_cancel_not_active", None, "Cancellation failed: no active response found."))
                }
            },
            other => {
                let supported = CLIENT_EVENTS.iter().map(|t| format!("'{t}'")).collect::<Vec<_>>().join(", ");
                Err(refuse(
                    "invalid_value",
                    Some("type"),
                    format!("Invalid value: '{other}'. Supported values are: {supported}."),
                ))
            }
        }
    }

    /// `session.update`: merges the given fields into the session.
    fn update_session(&mut self, m: &Value) -> Result<(), Refusal> {
        let Some(update) = m.get("session").and_then(Value::as_object) else {
            return Err(refuse(
                "missing_required_parameter",
                Some("session"),
                "Missing required parameter: 'session'.",
            ));
        };
        if let Some(t) = update.get("type").filter(|t| *t != "realtime") {
            let message = format!("Invalid value: {t}. This server serves 'realtime' sessions only.");
            return Err(refuse("invalid_value", Some("session.type"), message));
        }
        if let Some(modalities) = update.get("output_modalities") {
            output_modality(modalities).ok_or_else(|| {
                refuse(
                    "invalid_value",
                    Some("session.output_modalities"),
                    "output_modalities must be ['text'] or ['audio'].",
                )
            })?;
        }
        if let Some(model) = update.get("model").filter(|m| *m != &self.session["model"]) {
            let message = format!("Cannot update a session's model (to {model}).");
            return Err(refuse("invalid_value", Some("session.model"), message));
        }
        merge(&mut self.session, update);
        self.push("session.updated", json!({"session": self.session}));
        Ok(())
    }

    /// `input_audio_buffer.append`: buffers the audio and runs the simulated VAD over it.
    fn append(&mut self, m: &Value, now: Duration) -> Result<(), Refusal> {
        let audio = m.get("audio").and_then(Value::as_str).ok_or_else(|| {
            refuse("missing_required_parameter", Some("audio"), "Missing required parameter: 'audio'.")
        })?;
        let pcm = base64::engine::general_purpose::STANDARD.decode(audio).map_err(|_| {
            refuse("invalid_value", Some("audio"), "Invalid 'audio': expected base64-encoded pcm16 audio.")
        })?;
        self.buffered.extend_from_slice(&pcm);
        let Some(settings) = self.vad_settings() else { return Ok(()) };
        for turn in self.vad.feed(&pcm, &settings) {
            match turn {
                Turn::Started(at) => {
                    let item_id = random_id(&mut self.rng, "item_");
                    let interrupt = self.turn_detection()["interrupt_response"] != false;
                    if interrupt && self.active.is_some() {
                        self.finish(Ending::TurnDetected);
                    }
                    self.push("input_audio_buffer.speech_started", json!({"audio_start_ms": at, "item_id": item_id}));
                    self.speech_item = Some(item_id);
                }
                Turn::Stopped(at) => {
                    let item_id = self.speech_item.take().unwrap_or_else(|| random_id(&mut self.rng, "item_"));
                    self.push("input_audio_buffer.speech_stopped", json!({"audio_end_ms": at, "item_id": item_id}));
                    self.commit(Some(item_id))?;
                    if self.turn_detection()["create_response"] != false && self.active.is_none() {
                        self.create_response(&Value::Null, now)?;
                    }
                }
            }
        }
        Ok(())
    }

    fn turn_detection(&self) -> &Value {
        &self.session["audio"]["input"]["turn_detection"]
    }

    /// The VAD's settings, or None when turn detection is off.
    fn vad_settings(&self) -> Option<Settings> {
        let t = self.turn_detection();
        let ms = |key: &str, default: u64| t[key].as_u64().unwrap_or(default);
        t.is_object().then(|| Settings {
            threshold: t["threshold"].as_f64().unwrap_or(0.5),
            prefix_padding_ms: ms("prefix_padding_ms", 300),
            silence_duration_ms: ms("silence_duration_ms", 200),
        })
    }

    /// Commits the input buffer as a user audio item (`item_id` as VAD announced it).
    fn commit(&mut self, item_id: Option<String>) -> Result<(), Refusal> {
        let ms = vad::duration_ms(self.buffered.len());
        if ms < MIN_COMMIT_MS {
            let message = format!(
                "Error committing input audio buffer: buffer too small. Expected at least {MIN_COMMIT_MS}ms of audio, \
                 but buffer only has {ms}.00ms of audio."
            );
            return Err(refuse("input_audio_buffer_commit_empty", None, message));
        }
        self.buffered.clear();
        self.vad.reset_turn();
        let id = item_id.or_else(|| self.speech_item.take()).unwrap_or_else(|| random_id(&mut self.rng, "item_"));
        let previous = self.items.last().map(|i| i.json["id"].clone()).unwrap_or(Value::Null);
        self.push("input_audio_buffer.committed", json!({"item_id": id, "previous_item_id": previous}));
        let item = json!({"id": id, "object": "realtime.item", "type": "message", "status": "completed",
                          "role": "user", "content": [{"type": "input_audio", "transcript": null}]});
        self.add_item(Item { json: item, audio_ms: ms }, self.items.len());
        Ok(())
    }

    /// Inserts `item` at `at` and announces it.
    fn add_item(&mut self, item: Item, at: usize) {
        let previous = at.checked_sub(1).map(|p| self.items[p].json["id"].clone()).unwrap_or(Value::Null);
        let body = json!({"previous_item_id": previous, "item": item.json});
        self.items.insert(at, item);
        self.push("conversation.item.added", body.clone());
        self.push("conversation.item.done", body);
    }

    /// `conversation.item.create`.
    fn create_item(&mut self, m: &Value) -> Result<(), Refusal> {
        let Some(mut item) = m.get("item").filter(|i| i.is_object()).cloned() else {
            return Err(refuse("missing_required_parameter", Some("item"), "Missing required parameter: 'item'."));
        };
        let kind = item["type"].as_str().unwrap_or("");
        if !matches!(kind, "message" | "function_call" | "function_call_output") {
            let message = format!(
                "Invalid value: '{kind}'. Supported values are: 'message', 'function_call', and 'function_call_output'."
            );
            return Err(refuse("invalid_value", Some("item.type"), message));
        }
        if kind == "message" && !matches!(item["role"].as_str(), Some("user" | "assistant" | "system")) {
            let message = "Invalid 'item.role': expected 'user', 'assistant' or 'system'.";
            return Err(refuse("invalid_value", Some("item.role"), message));
        }
        match item["id"].as_str() {
            Some(id) if self.position(id).is_some() => {
                let message = format!("Item with id '{id}' already exists.");
                return Err(refuse("item_create_invalid_item_id", Some("item.id"), message));
            }
            Some(_) => {}
            None => item["id"] = json!(random_id(&mut self.rng, "item_")),
        }
        item["object"] = json!("realtime.item");
        if item.get("status").is_none() {
            item["status"] = json!("completed");
        }
        let at = match m.get("previous_item_id").and_then(Value::as_str) {
            None => self.items.len(),
            Some("root") => 0,
            Some(prev) => self.position(prev).map(|p| p + 1).ok_or_else(|| {
                let message = format!("Previous item with id '{prev}' does not exist.");
                refuse("item_create_invalid_previous_item_id", Some("previous_item_id"), message)
            })?,
        };
        self.add_item(Item { json: item, audio_ms: 0 }, at);
        Ok(())
    }

    /// `conversation.item.delete`.
    fn delete_item(&mut self, m: &Value) -> Result<(), Refusal> {
        let at = self.find_item(m, "item_delete_invalid_item_id")?;
        let item = self.items.remove(at);
        self.push("conversation.item.deleted", json!({"item_id": item.json["id"]}));
        Ok(())
    }

    /// `conversation.item.truncate`: cuts an assistant item's audio (and transcript) at `audio_end_ms`.
    fn truncate_item(&mut self, m: &Value) -> Result<(), Refusal> {
        let at = self.find_item(m, "item_truncate_invalid_item_id")?;
        let index = m["content_index"].as_u64().unwrap_or(0) as usize;
        let end = m["audio_end_ms"].as_u64().ok_or_else(|| {
            refuse("missing_required_parameter", Some("audio_end_ms"), "Missing required parameter: 'audio_end_ms'.")
        })?;
        let item = &mut self.items[at];
        if item.json["role"] != "assistant" || item.json["content"][index]["type"] != "output_audio" {
            let message = "Only an assistant message's audio content can be truncated.";
            return Err(refuse("invalid_value", Some("content_index"), message));
        }
        if end > item.audio_ms {
            let message = format!("Audio content of {}ms is shorter than {end}ms.", item.audio_ms);
            return Err(refuse("invalid_value", Some("audio_end_ms"), message));
        }
        // Keep only the transcript heard: its share of the audio, by characters.
        let transcript = item.json["content"][index]["transcript"].as_str().unwrap_or("");
        let keep = (transcript.chars().count() as u64 * end / item.audio_ms.max(1)) as usize;
        item.json["content"][index]["transcript"] = json!(transcript.chars().take(keep).collect::<String>());
        item.audio_ms = end;
        let item_id = item.json["id"].clone();
        self.push(
            "conversation.item.truncated",
            json!({"item_id": item_id, "content_index": index, "audio_end_ms": end}),
        );
        Ok(())
    }

    fn position(&self, id: &str) -> Option<usize> {
        self.items.iter().position(|i| i.json["id"] == id)
    }

    fn find_item(&self, m: &Value, code: &'static str) -> Result<usize, Refusal> {
        let id = m.get("item_id").and_then(Value::as_str).ok_or_else(|| {
            refuse("missing_required_parameter", Some("item_id"), "Missing required parameter: 'item_id'.")
        })?;
        self.position(id).ok_or_else(|| refuse(code, Some("item_id"), format!("Item with item_id not found: {id}")))
    }

    /// `response.create`: plans a response as chat would (TTFT, ITL, natural length) and
    /// sends its opening events now.
    fn create_response(&mut self, params: &Value, now: Duration) -> Result<(), Refusal> {
        if let Some(active) = &self.active {
            let message = format!(
                "Conversation already has an active response in progress: {}. Wait until the response is finished before creating a new one.",
                active.id
            );
            return Err(refuse("conversation_already_has_active_response", None, message));
        }
        let modalities = params.get("output_modalities").unwrap_or(&self.session["output_modalities"]);
        let audio = output_modality(modalities).ok_or_else(|| {
            refuse(
                "invalid_value",
                Some("response.output_modalities"),
                "output_modalities must be ['text'] or ['audio'].",
            )
        })? == "audio";
        let max_output_tokens = params.get("max_output_tokens").unwrap_or(&self.session["max_output_tokens"]).clone();
        let cap = match &max_output_tokens {
            Value::String(s) if s == "inf" => u64::MAX,
            Value::Number(n) if n.as_u64().is_some_and(|n| (1..=4096).contains(&n)) => n.as_u64().unwrap_or(1),
            other => {
                let message =
                    format!("Invalid 'max_output_tokens': {other}. Expected an integer from 1 to 4096 or 'inf'.");
                return Err(refuse("invalid_value", Some("response.max_output_tokens"), message));
            }
        };
        let in_conversation = params.get("conversation").and_then(Value::as_str) != Some("none");
        let voice = params["audio"]["output"]["voice"]
            .as_str()
            .or(self.session["audio"]["output"]["voice"].as_str())
            .unwrap_or("alloy")
            .to_owned();
        let instructions = params.get("instructions").unwrap_or(&self.session["instructions"]);
        let input_tokens = self.prompt_tokens(instructions.as_str().unwrap_or(""));
        let model = self.session["model"].as_str().unwrap_or("").to_owned();
        let sim = &self.config.sim;
        let (ttft, itl) = sim.timing(&model, input_tokens.0 + input_tokens.1, &mut self.rng);
        let natural = sim.output_len.sample(&mut self.rng);
        let active = Active {
            id: random_id(&mut self.rng, "resp_"),
            item_id: random_id(&mut self.rng, "item_"),
            audio,
            voice,
            in_conversation,
            max_output_tokens,
            metadata: params.get("metadata").cloned().unwrap_or(Value::Null),
            input_tokens,
            start: now,
            schedule: Schedule::new(ttft, itl, Rng::new(self.rng.next_u64())),
            left: natural.min(cap),
            capped: natural > cap,
            text: TextGen::new(self.rng.next_u64()),
            sent: String::new(),
            tokens: 0,
            phase: 0,
        };
        let head = json!({"response_id": active.id, "output_index": 0});
        self.push("response.created", json!({"response": active.object(None, &self.conversation_id)}));
        let mut added = head.clone();
        added["item"] = active.item("in_progress", false);
        self.push("response.output_item.added", added);
        if in_conversation {
            let previous = self.items.last().map(|i| i.json["id"].clone()).unwrap_or(Value::Null);
            self.push(
                "conversation.item.added",
                json!({"previous_item_id": previous, "item": active.item("in_progress", false)}),
            );
        }
        let mut part = head;
        part["item_id"] = json!(active.item_id);
        part["content_index"] = json!(0);
        part["part"] = active.part();
        self.push("response.content_part.added", part);
        self.active = Some(active);
        Ok(())
    }

    /// Prompt tokens of the conversation and `instructions`: (text, audio).
    fn prompt_tokens(&self, instructions: &str) -> (u64, u64) {
        let count = |s: &str| self.config.encoding.count(s) as u64;
        let mut text = count(instructions);
        let mut audio_ms = 0;
        for item in &self.items {
            audio_ms += item.audio_ms;
            let j = &item.json;
            for part in j["content"].as_array().into_iter().flatten() {
                text += count(part["text"].as_str().or(part["transcript"].as_str()).unwrap_or(""));
            }
            text += count(j["arguments"].as_str().unwrap_or("")) + count(j["output"].as_str().unwrap_or(""));
        }
        (text, audio_ms.div_ceil(INPUT_AUDIO_MS_PER_TOKEN))
    }

    /// Queues the active response's next token, and its closing events after the last.
    fn emit_token(&mut self) {
        let Some(active) = self.active.as_mut() else { return };
        let id = active.id.clone();
        let events = active.next_token(|kind| json!({"type": kind, "response_id": id}));
        let ending = (active.left == 0).then_some(if active.capped { Ending::Capped } else { Ending::Completed });
        for e in events {
            self.stamp(e);
        }
        if let Some(ending) = ending {
            self.finish(ending);
        }
    }

    /// Closes the active response: the `*.done` events, then `response.done`.
    fn finish(&mut self, ending: Ending) {
        let Some(active) = self.active.take() else { return };
        let status = if ending == Ending::Completed { "completed" } else { "incomplete" };
        let head = json!({"response_id": active.id, "item_id": active.item_id, "output_index": 0, "content_index": 0});
        let with = |extra: Value| {
            let mut v = head.clone();
            v.as_object_mut().expect("object").extend(extra.as_object().expect("object").clone());
            v
        };
        if active.audio {
            self.push("response.output_audio.done", head.clone());
            self.push("response.output_audio_transcript.done", with(json!({"transcript": active.sent})));
        } else {
            self.push("response.output_text.done", with(json!({"text": active.sent})));
        }
        self.push("response.content_part.done", with(json!({"part": active.part()})));
        let item = active.item(status, true);
        self.push("response.output_item.done", json!({"response_id": active.id, "output_index": 0, "item": item}));
        if active.in_conversation {
            let previous = self.items.last().map(|i| i.json["id"].clone()).unwrap_or(Value::Null);
            self.push("conversation.item.done", json!({"previous_item_id": previous, "item": item}));
            self.items.push(Item { json: item, audio_ms: active.audio_ms() });
        }
        self.push("response.done", json!({"response": active.object(Some(ending), &self.conversation_id)}));
    }

    /// Queues an `error` event (with the client's `event_id` that caused it).
    fn error(&mut self, client_event_id: Option<String>, r: Refusal) {
        let error = json!({"type": "invalid_request_error", "code": r.code, "message": r.message,
                           "param": r.param, "event_id": client_event_id});
        self.push("error", json!({"error": error}));
    }

    /// Queues a server event of `kind` with `fields`.
    fn push(&mut self, kind: &str, fields: Value) {
        let mut event = self.event(kind, Value::Null);
        if let (Some(e), Value::Object(f)) = (event.as_object_mut(), fields) {
            e.extend(f);
        }
        self.ready.push_back(event);
    }

    /// Queues a server event that already has its `type`.
    fn stamp(&mut self, mut event: Value) {
        event["event_id"] = json!(random_id(&mut self.rng, "event_"));
        self.ready.push_back(event);
    }

    fn event(&mut self, kind: &str, fields: Value) -> Value {
        let mut e = json!({"type": kind, "event_id": random_id(&mut self.rng, "event_")});
        if let (Some(e), Value::Object(f)) = (e.as_object_mut(), fields) {
            e.extend(f);
        }
        e
    }
}

/// `"text"` or `"audio"` from an `output_modalities` list of exactly one of them.
fn output_modality(v: &Value) -> Option<&str> {
    match v.as_array().map(Vec::as_slice) {
        Some([m]) => m.as_str().filter(|m| matches!(*m, "text" | "audio")),
        _ => None,
    }
}

/// Merges `update` into `into`: objects field by field, anything else replaced.
fn merge(into: &mut Value, update: &Map<String, Value>) {
    for (key, value) in update {
        match (into.get_mut(key), value) {
            (Some(existing @ Value::Object(_)), Value::Object(inner)) => merge(existing, inner),
            _ => into[key] = value.clone(),
        }
    }
}

/// `prefix` and 21 alphanumerics, as OpenAI's Realtime ids look.
fn random_id(rng: &mut Rng, prefix: &str) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let mut id = String::with_capacity(prefix.len() + 21);
    id.push_str(prefix);
    id.extend((0..21).map(|_| ALPHABET[rng.below(ALPHABET.len() as u64) as usize] as char));
    id
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{openai::tools::AutoToolCalls, sim::Latency, sim::LengthDist};

    fn session(len: u64) -> Session {
        let sim = SimConfig {
            ttft: Some(Latency::fixed(100.0)),
            itl: Some(Latency::fixed(10.0)),
            prefill_tps: None,
            latency_profiles: false,
            output_len: LengthDist::Fixed(len),
            non_streaming_delay: true,
            fingerprint: "fp".into(),
            reasoning_models: vec![],
            encoding: Encoding::Cl100kBase,
            auto_tool_calls: AutoToolCalls::Match,
            stream_obfuscation: false,
        };
        Session::new(Config { sim, encoding: Encoding::Cl100kBase }, "gpt-realtime", 7, 1_700_000_000)
    }

    /// Every event due by `now`, parsed.
    fn drain(s: &mut Session, now: Duration) -> Vec<Value> {
        std::iter::from_fn(|| s.poll(now)).map(|e| serde_json::from_str(&e).unwrap()).collect()
    }

    fn kinds(events: &[Value]) -> Vec<&str> {
        events.iter().map(|e| e["type"].as_str().unwrap()).collect()
    }

    const MS: Duration = Duration::from_millis(1);

    #[test]
    fn tokens_are_due_on_the_schedule_from_response_create() {
        let mut s = session(3);
        assert_eq!(kinds(&drain(&mut s, Duration::ZERO)), ["session.created"]);
        assert_eq!(s.next_due(), None, "idle");
        let t0 = 1000 * MS;
        s.receive(r#"{"type":"response.create","response":{"output_modalities":["text"]}}"#, t0);
        let opening = drain(&mut s, t0);
        assert_eq!(kinds(&opening)[0], "response.created");
        assert_eq!(s.next_due(), Some(t0 + 100 * MS), "TTFT after the request");
        assert!(drain(&mut s, t0 + 99 * MS).is_empty());
        assert_eq!(kinds(&drain(&mut s, t0 + 100 * MS)), ["response.output_text.delta"]);
        assert_eq!(s.next_due(), Some(t0 + 110 * MS), "then one ITL");
        let rest = drain(&mut s, t0 + 120 * MS);
        assert_eq!(kinds(&rest)[..2], ["response.output_text.delta", "response.output_text.delta"]);
        assert_eq!(rest.last().unwrap()["response"]["status"], "completed");
        assert_eq!(s.next_due(), None);
    }

    #[test]
    fn speech_commits_and_answers_in_audio() {
        use base64::Engine as _;
        let mut s = session(2);
        drain(&mut s, Duration::ZERO);
        let b64 = |pcm: Vec<u8>| base64::engine::general_purpose::STANDARD.encode(pcm);
        let loud: Vec<u8> = (0..4800).flat_map(|i: i32| ((i % 2 * 2 - 1) as i16 * 9000).to_le_bytes()).collect();
        s.receive(&format!(r#"{{"type":"input_audio_buffer.append","audio":"{}"}}"#, b64(loud)), MS);
        assert_eq!(kinds(&drain(&mut s, MS)), ["input_audio_buffer.speech_started"]);
        s.receive(&format!(r#"{{"type":"input_audio_buffer.append","audio":"{}"}}"#, b64(vec![0; 9600])), 2 * MS);
        let events = drain(&mut s, 2 * MS);
        assert_eq!(
            kinds(&events)[..5],
            [
                "input_audio_buffer.speech_stopped",
                "input_audio_buffer.committed",
                "conversation.item.added",
                "conversation.item.done",
                "response.created"
            ]
        );
        assert_eq!(events[0]["audio_end_ms"], 400, "200 ms of speech and 200 ms of silence");
        let done = drain(&mut s, Duration::from_secs(1));
        assert_eq!(kinds(&done)[..2], ["response.output_audio.delta", "response.output_audio_transcript.delta"]);
        let response = &done.last().unwrap()["response"];
        assert_eq!(response["usage"]["input_token_details"]["audio_tokens"], 4, "400 ms at 100 ms a token");
        assert_eq!(response["usage"]["output_token_details"], json!({"text_tokens": 2, "audio_tokens": 2}));
        // The spoken item can be truncated to what the client played.
        let id = response["output"][0]["id"].as_str().unwrap();
        s.receive(
            &format!(
                r#"{{"type":"conversation.item.truncate","item_id":"{id}","content_index":0,"audio_end_ms":200}}"#
            ),
            MS,
        );
        assert_eq!(drain(&mut s, MS)[0]["error"]["param"], "audio_end_ms", "only 100 ms were spoken");
        s.receive(
            &format!(r#"{{"type":"conversation.item.truncate","item_id":"{id}","content_index":0,"audio_end_ms":50}}"#),
            MS,
        );
        assert_eq!(drain(&mut s, MS)[0]["type"], "conversation.item.truncated");
    }

    #[test]
    fn items_insert_after_their_predecessor_and_delete() {
        let mut s = session(1);
        drain(&mut s, Duration::ZERO);
        let create = |id: &str, prev: &str| {
            format!(
                r#"{{"type":"conversation.item.create","previous_item_id":{prev},"item":{{"id":"{id}","type":"message","role":"user","content":[{{"type":"input_text","text":"x"}}]}}}}"#
            )
        };
        s.receive(&create("a", "null"), MS);
        s.receive(&create("b", r#""root""#), MS);
        let events = drain(&mut s, MS);
        assert_eq!(events[2]["previous_item_id"], Value::Null, "root puts b first");
        s.receive(&create("c", r#""b""#), MS);
        assert_eq!(drain(&mut s, MS)[0]["previous_item_id"], "b");
        s.receive(&create("a", "null"), MS);
        assert_eq!(drain(&mut s, MS)[0]["error"]["code"], "item_create_invalid_item_id", "ids are unique");
        s.receive(r#"{"type":"conversation.item.delete","item_id":"c"}"#, MS);
        assert_eq!(drain(&mut s, MS)[0]["type"], "conversation.item.deleted");
        assert_eq!(s.items.iter().map(|i| i.json["id"].as_str().unwrap()).collect::<Vec<_>>(), ["b", "a"]);
    }
}
