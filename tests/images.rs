//! The Images API over HTTP: real files at the asked size (decoded with the `png` crate and,
//! for JPEG and WebP, by ffprobe), URLs into this server that expire, OpenAI's 400s, multipart
//! edits, partial-image streams and latency.

mod common;

use std::{
    io::Write,
    time::{Duration, Instant},
};

use base64::Engine;
use common::Server;

fn b64(s: &serde_json::Value) -> Vec<u8> {
    base64::engine::general_purpose::STANDARD.decode(s.as_str().expect("b64_json string")).expect("base64")
}

/// Width, height and colour type of a PNG, decoding every pixel.
fn decode_png(bytes: &[u8]) -> (u32, u32, png::ColorType) {
    let mut reader = png::Decoder::new(std::io::Cursor::new(bytes)).read_info().expect("a PNG");
    let mut buf = vec![0; reader.output_buffer_size().unwrap()];
    let info = reader.next_frame(&mut buf).expect("PNG pixels decode");
    (info.width, info.height, info.color_type)
}

/// `(codec, width, height)` of an image file as ffprobe reads it; `None` without ffprobe.
fn ffprobe_image(bytes: &[u8], ext: &str) -> Option<(String, u32, u32)> {
    common::ffprobe()?;
    let path = common::temp_file(&format!("img-{}.{ext}", bytes.len()), bytes);
    let f = common::probe_stream(&path, "codec_name,width,height");
    let _ = std::fs::remove_file(&path);
    Some((f[0].clone(), f[1].parse().unwrap(), f[2].parse().unwrap()))
}

fn zero_latency() -> Server {
    Server::start(&["--image-latency", "0"])
}

#[test]
fn dall_e_2_url_serves_a_png_of_the_asked_size_on_the_bound_port() {
    let s = zero_latency();
    let r = s.post("/v1/images/generations", r#"{"prompt":"a red fox in snow","size":"256x256","n":2}"#);
    assert_eq!(r.status, 200, "{}", r.text());
    let v = r.json();
    let data = v["data"].as_array().unwrap();
    assert_eq!(data.len(), 2);
    let mut files = Vec::new();
    for item in data {
        let url = item["url"].as_str().unwrap();
        let prefix = format!("http://{}/images/", s.addr);
        assert!(url.starts_with(&prefix) && url.ends_with(".png"), "{url} names the bound address {}", s.addr);
        let got = s.request("GET", &url[prefix.len() - "/images/".len()..], None);
        assert_eq!((got.status, got.header("content-type")), (200, Some("image/png")));
        assert_eq!(decode_png(&got.body), (256, 256, png::ColorType::Rgb));
        files.push(got.body);
    }
    assert_ne!(files[0], files[1], "each of n images differs");
    // The same prompt draws the same picture.
    let again = s.post(
        "/v1/images/generations",
        r#"{"prompt":"a red fox in snow","size":"256x256","response_format":"b64_json"}"#,
    );
    assert_eq!(b64(&again.json()["data"][0]["b64_json"]), files[0]);
    assert!(v.get("usage").is_none(), "DALL·E reports no token usage");
}

#[test]
fn dall_e_3_revises_the_prompt_and_gpt_image_reports_usage() {
    let s = zero_latency();
    let v = s
        .post("/v1/images/generations", r#"{"model":"dall-e-3","prompt":"a lighthouse","size":"1024x1792","response_format":"b64_json","quality":"hd"}"#)
        .json();
    assert!(v["data"][0]["revised_prompt"].as_str().unwrap().starts_with("a lighthouse"));
    assert_eq!(decode_png(&b64(&v["data"][0]["b64_json"])).0, 1024);
    assert_eq!(decode_png(&b64(&v["data"][0]["b64_json"])).1, 1792);
    let v = s.post("/v1/images/generations", r#"{"model":"gpt-image-1","prompt":"a lighthouse","quality":"low","size":"1536x1024","background":"transparent"}"#).json();
    assert_eq!(decode_png(&b64(&v["data"][0]["b64_json"])), (1536, 1024, png::ColorType::Rgba));
    assert_eq!(
        (v["size"].as_str(), v["quality"].as_str(), v["background"].as_str(), v["output_format"].as_str()),
        (Some("1536x1024"), Some("low"), Some("transparent"), Some("png"))
    );
    let u = &v["usage"];
    assert_eq!(u["output_tokens"], 400, "OpenAI's table: low 1536x1024 costs 400");
    assert_eq!(u["input_tokens_details"]["text_tokens"], 3, "'a lighthouse' is 3 tokens");
    assert_eq!(u["total_tokens"], 403);
}

#[test]
fn jpeg_and_webp_are_real_files_of_the_asked_size() {
    let s = zero_latency();
    for (format, codec) in [("jpeg", "mjpeg"), ("webp", "webp")] {
        let body = format!(
            r#"{{"model":"gpt-image-1","prompt":"a cat","size":"1024x1536","quality":"low","output_format":"{format}","output_compression":70}}"#
        );
        let v = s.post("/v1/images/generations", &body).json();
        let bytes = b64(&v["data"][0]["b64_json"]);
        match format {
            "jpeg" => assert!(bytes.starts_with(&[0xff, 0xd8, 0xff]) && bytes.ends_with(&[0xff, 0xd9])),
            _ => assert!(bytes.starts_with(b"RIFF") && &bytes[8..12] == b"WEBP"),
        }
        if let Some(probe) = ffprobe_image(&bytes, format) {
            assert_eq!(probe, (codec.to_owned(), 1024, 1536), "{format}");
        }
    }
}

#[test]
fn bad_requests_get_openai_400s_with_param() {
    let s = zero_latency();
    for (body, param, code) in [
        (r#"{"model":"dall-e-3","prompt":"x","n":2}"#, "n", "invalid_value"),
        (r#"{"prompt":"x","n":11}"#, "n", "integer_above_max_value"),
        (r#"{"prompt":"x","size":"1792x1024"}"#, "size", "invalid_value"),
        (r#"{"model":"dall-e-3","prompt":"x","quality":"high"}"#, "quality", "invalid_value"),
        (r#"{"model":"gpt-image-1","prompt":"x","response_format":"url"}"#, "response_format", "invalid_value"),
        (r#"{"model":"gpt-image-1","prompt":"x","style":"vivid"}"#, "style", "unknown_parameter"),
        (r#"{"model":"gpt-image-1","prompt":"x","output_format":"gif"}"#, "output_format", "invalid_value"),
        (
            r#"{"model":"gpt-image-1","prompt":"x","output_format":"jpeg","background":"transparent"}"#,
            "background",
            "invalid_value",
        ),
        (r#"{"model":"dall-e-2"}"#, "prompt", "missing_required_parameter"),
    ] {
        let r = s.post("/v1/images/generations", body);
        assert_eq!(r.status, 400, "{body}");
        let e = &r.json()["error"];
        assert_eq!(
            (e["param"].as_str(), e["code"].as_str(), e["type"].as_str()),
            (Some(param), Some(code), Some("invalid_request_error")),
            "{body}: {e}"
        );
    }
}

/// A multipart body of text fields and (field, filename, bytes) files.
fn multipart(fields: &[(&str, &str)], files: &[(&str, &str, &[u8])]) -> (String, Vec<u8>) {
    let boundary = "fakeai-test-boundary";
    let mut body = Vec::new();
    for (name, value) in fields {
        write!(body, "--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n").unwrap();
    }
    for (name, filename, bytes) in files {
        write!(body, "--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"; filename=\"{filename}\"\r\nContent-Type: image/png\r\n\r\n").unwrap();
        body.extend_from_slice(bytes);
        body.extend_from_slice(b"\r\n");
    }
    write!(body, "--{boundary}--\r\n").unwrap();
    (format!("multipart/form-data; boundary={boundary}"), body)
}

fn post_multipart(s: &Server, path: &str, content_type: &str, body: &[u8]) -> common::Response {
    let mut conn = s.connect();
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    conn.write_raw(head.as_bytes());
    conn.write_raw(body);
    conn.response_to("POST")
}

fn png_file(w: u32, h: u32, colour: png::ColorType) -> Vec<u8> {
    let mut out = Vec::new();
    let mut enc = png::Encoder::new(&mut out, w, h);
    enc.set_color(colour);
    let channels = if colour == png::ColorType::Rgba { 4 } else { 3 };
    enc.write_header().unwrap().write_image_data(&vec![128u8; (w * h) as usize * channels]).unwrap();
    out
}

#[test]
fn edits_and_variations_take_multipart_uploads() {
    let s = zero_latency();
    let rgba = png_file(64, 64, png::ColorType::Rgba);
    let (ct, body) = multipart(
        &[("prompt", "add a hat"), ("size", "512x512"), ("response_format", "b64_json")],
        &[("image", "in.png", &rgba)],
    );
    let r = post_multipart(&s, "/v1/images/edits", &ct, &body);
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(decode_png(&b64(&r.json()["data"][0]["b64_json"])).0, 512);
    // DALL·E 2 wants a square PNG; an edit without a mask needs alpha.
    let wide = png_file(64, 32, png::ColorType::Rgba);
    let rgb = png_file(64, 64, png::ColorType::Rgb);
    for (file, message) in [(&wide[..], "square"), (&rgb[..], "got RGB"), (&b"GIF89a..."[..], "must be a PNG")] {
        let (ct, body) = multipart(&[("prompt", "add a hat")], &[("image", "in.png", file)]);
        let r = post_multipart(&s, "/v1/images/edits", &ct, &body);
        assert_eq!(r.status, 400);
        let e = &r.json()["error"];
        assert!(e["message"].as_str().unwrap().contains(message), "{e}");
        assert_eq!(e["param"], "image");
    }
    // gpt-image-1 takes several images as image[] and counts their tokens.
    let (ct, body) = multipart(
        &[("prompt", "merge"), ("model", "gpt-image-1"), ("quality", "low")],
        &[("image[]", "a.png", &rgb), ("image[]", "b.png", &rgba)],
    );
    let v = post_multipart(&s, "/v1/images/edits", &ct, &body).json();
    assert_eq!(v["usage"]["input_tokens_details"]["image_tokens"], 510, "two 64x64 images, 85 + 170 for one tile each");
    // Variations: no prompt; a broken form is a 400, not a 500.
    let (ct, body) = multipart(&[("n", "2"), ("size", "256x256")], &[("image", "in.png", &rgb)]);
    let v = post_multipart(&s, "/v1/images/variations", &ct, &body).json();
    assert_eq!(v["data"].as_array().unwrap().len(), 2);
    let r = post_multipart(&s, "/v1/images/variations", &ct, &body[..body.len() - 10]);
    assert_eq!(r.status, 400);
    let r = post_multipart(&s, "/v1/images/edits", "multipart/form-data", &body);
    assert_eq!((r.status, r.json()["error"]["message"].as_str().unwrap().contains("boundary")), (400, true));
}

#[test]
fn gpt_image_streams_partial_images_then_the_completed_one() {
    let s = Server::start(&["--image-latency", "300ms"]);
    let t0 = Instant::now();
    let r = s.post("/v1/images/generations", r#"{"model":"gpt-image-1","prompt":"a fox","stream":true,"partial_images":2,"quality":"medium","size":"1024x1024"}"#);
    let elapsed = t0.elapsed();
    assert_eq!((r.status, r.header("content-type")), (200, Some("text/event-stream; charset=utf-8")));
    assert!(elapsed >= Duration::from_millis(300), "the completed image is due after the latency: {elapsed:?}");
    let text = r.text();
    let events: Vec<(&str, serde_json::Value)> = text
        .split_terminator("\n\n")
        .map(|e| {
            let (name, data) = e.split_once('\n').unwrap();
            (name.strip_prefix("event: ").unwrap(), serde_json::from_str(data.strip_prefix("data: ").unwrap()).unwrap())
        })
        .collect();
    let types: Vec<&str> = events.iter().map(|(n, _)| *n).collect();
    assert_eq!(
        types,
        ["image_generation.partial_image", "image_generation.partial_image", "image_generation.completed"]
    );
    for (i, (name, v)) in events.iter().enumerate() {
        assert_eq!(v["type"], *name);
        assert_eq!(decode_png(&b64(&v["b64_json"])).0, 1024);
        assert_eq!(
            (v["size"].as_str(), v["quality"].as_str(), v["output_format"].as_str()),
            (Some("1024x1024"), Some("medium"), Some("png"))
        );
        if i < 2 {
            assert_eq!(v["partial_image_index"], i);
        }
    }
    assert_eq!(events[2].1["usage"]["output_tokens"], 1056);
    assert_ne!(events[0].1["b64_json"], events[2].1["b64_json"], "a partial image is not the final one");
}

#[test]
fn latency_follows_model_size_and_quality() {
    let s = Server::start(&["--image-latency", "400ms"]);
    let timed = |body: &str| {
        let t0 = Instant::now();
        assert_eq!(s.post("/v1/images/generations", body).status, 200);
        t0.elapsed()
    };
    // dall-e-2 at 256x256: 400 ms × ½ × 1/16 = 12.5 ms; dall-e-3 hd 1024: 400 ms × 2 = 800 ms.
    let small = timed(r#"{"prompt":"x","size":"256x256","response_format":"b64_json"}"#);
    let hd = timed(r#"{"model":"dall-e-3","prompt":"x","quality":"hd","response_format":"b64_json"}"#);
    assert!(small < Duration::from_millis(300), "{small:?}");
    assert!(hd >= Duration::from_millis(800), "{hd:?}");
}

#[test]
fn image_urls_expire_after_the_ttl() {
    let s = Server::start(&["--image-latency", "0", "--image-ttl", "1s"]);
    let v = s.post("/v1/images/generations", r#"{"prompt":"x","size":"256x256"}"#).json();
    let url = v["data"][0]["url"].as_str().unwrap().to_owned();
    let path = &url[url.find("/images/").unwrap()..];
    assert_eq!(s.request("GET", path, None).status, 200);
    std::thread::sleep(Duration::from_millis(1100));
    let r = s.request("GET", path, None);
    assert_eq!((r.status, r.json()["error"]["code"].as_str()), (404, Some("not_found")));
}

/// The official `openai` SDK: images.generate (url and b64_json), edit with a PNG file,
/// variations, the partial-image stream, and videos create/retrieve/download/list/delete, each
/// body validated strictly by the SDK's models (tests/sdk/images_check.py).
#[test]
fn openai_sdk_images_and_videos() {
    common::sdk_check("images_check.py", "/v1", || {
        Server::start(&["--image-latency", "0", "--video-latency", "200ms"])
    });
}
