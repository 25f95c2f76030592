//! The Videos API over HTTP: a job moves queued → in_progress → completed by elapsed time, its
//! content is an MP4 that ffprobe reads at the asked seconds and size, and jobs list by cursor
//! and delete.

mod common;

use std::{process::Command, time::Duration};

use common::Server;

fn create(s: &Server, body: &str) -> serde_json::Value {
    let r = s.post("/v1/videos", body);
    assert_eq!(r.status, 200, "{}", r.text());
    r.json()
}

/// `(codec, width, height, duration, frames)` of an MP4 as ffprobe reads it, after ffmpeg
/// decoded every frame without error; `None` without ffmpeg.
fn ffprobe_video(bytes: &[u8]) -> Option<(String, u32, u32, f64, u32)> {
    common::ffprobe()?;
    let path = common::temp_file(&format!("video-{}.mp4", bytes.len()), bytes);
    let f = common::probe_stream(&path, "codec_name,width,height,duration,nb_frames");
    let decode =
        Command::new("ffmpeg").args(["-v", "error", "-i"]).arg(&path).args(["-f", "null", "-"]).output().unwrap();
    let _ = std::fs::remove_file(&path);
    assert!(decode.status.success() && decode.stderr.is_empty(), "ffmpeg: {}", String::from_utf8_lossy(&decode.stderr));
    Some((f[0].clone(), f[1].parse().unwrap(), f[2].parse().unwrap(), f[3].parse().unwrap(), f[4].parse().unwrap()))
}

#[test]
fn a_job_completes_by_elapsed_time_and_downloads_as_an_mp4_ffprobe_reads() {
    let s = Server::start(&["--video-latency", "250ms"]);
    let v = create(&s, r#"{"prompt":"waves at dusk","seconds":"8","size":"1280x720"}"#);
    assert_eq!(
        (v["status"].as_str(), v["progress"].as_u64(), v["object"].as_str()),
        (Some("queued"), Some(0), Some("video"))
    );
    assert_eq!(
        (v["model"].as_str(), v["seconds"].as_str(), v["size"].as_str()),
        (Some("sora-2"), Some("8"), Some("1280x720"))
    );
    let id = v["id"].as_str().unwrap().to_owned();
    // 8 s of video at 250 ms a second: 2 s in all.
    let r = s.request("GET", &format!("/v1/videos/{id}/content"), None);
    assert_eq!((r.status, r.json()["error"]["code"].as_str()), (400, Some("video_not_ready")));
    std::thread::sleep(Duration::from_millis(1000));
    let mid = s.request("GET", &format!("/v1/videos/{id}"), None).json();
    assert_eq!(mid["status"], "in_progress");
    let p = mid["progress"].as_u64().unwrap();
    assert!((40..=70).contains(&p), "about half way: {p}");
    std::thread::sleep(Duration::from_millis(1100));
    let done = s.request("GET", &format!("/v1/videos/{id}"), None).json();
    assert_eq!((done["status"].as_str(), done["progress"].as_u64()), (Some("completed"), Some(100)));
    assert!(done["completed_at"].as_u64().unwrap() >= done["created_at"].as_u64().unwrap());
    let r = s.request("GET", &format!("/v1/videos/{id}/content"), None);
    assert_eq!((r.status, r.header("content-type")), (200, Some("video/mp4")));
    assert_eq!(&r.body[4..8], b"ftyp");
    if let Some((codec, w, h, seconds, frames)) = ffprobe_video(&r.body) {
        assert_eq!((codec.as_str(), w, h, seconds, frames), ("mjpeg", 1280, 720, 8.0, 8));
    }
    let thumb = s.request("GET", &format!("/v1/videos/{id}/content?variant=thumbnail"), None);
    assert_eq!((thumb.header("content-type"), &thumb.body[..3]), (Some("image/jpeg"), &[0xff, 0xd8, 0xff][..]));
}

#[test]
fn sizes_and_seconds_follow_the_model_and_bad_ones_are_400s() {
    let s = Server::start(&["--video-latency", "0"]);
    let v = create(&s, r#"{"model":"sora-2-pro","prompt":"x","seconds":12,"size":"1792x1024"}"#);
    let r = s.request("GET", &format!("/v1/videos/{}/content", v["id"].as_str().unwrap()), None);
    if let Some((_, w, h, seconds, _)) = ffprobe_video(&r.body) {
        assert_eq!((w, h, seconds), (1792, 1024, 12.0));
    }
    for (body, param) in [
        (r#"{"prompt":"x","size":"1792x1024"}"#, "size"),
        (r#"{"prompt":"x","seconds":"5"}"#, "seconds"),
        (r#"{"prompt":"x","model":"dall-e-3"}"#, "model"),
        (r#"{"seconds":"4"}"#, "prompt"),
    ] {
        let r = s.post("/v1/videos", body);
        assert_eq!((r.status, r.json()["error"]["param"].as_str()), (400, Some(param)), "{body}");
    }
    assert_eq!(s.request("GET", "/v1/videos/video_missing", None).status, 404);
}

#[test]
fn list_pages_by_cursor_and_delete_removes() {
    let s = Server::start(&["--video-latency", "0"]);
    let ids: Vec<String> =
        (0..3).map(|i| create(&s, &format!(r#"{{"prompt":"clip {i}"}}"#))["id"].as_str().unwrap().to_owned()).collect();
    let page = s.request("GET", "/v1/videos?limit=2", None).json();
    let got: Vec<&str> = page["data"].as_array().unwrap().iter().map(|v| v["id"].as_str().unwrap()).collect();
    assert_eq!((got, page["has_more"].as_bool()), (vec![ids[2].as_str(), ids[1].as_str()], Some(true)), "newest first");
    let next =
        s.request("GET", &format!("/v1/videos?limit=2&after={}", page["last_id"].as_str().unwrap()), None).json();
    assert_eq!((next["data"][0]["id"].as_str(), next["has_more"].as_bool()), (Some(ids[0].as_str()), Some(false)));
    let d = s.request("DELETE", &format!("/v1/videos/{}", ids[1]), None).json();
    assert_eq!((d["object"].as_str(), d["deleted"].as_bool()), (Some("video.deleted"), Some(true)));
    let asc = s.request("GET", "/v1/videos?order=asc", None).json();
    let got: Vec<&str> = asc["data"].as_array().unwrap().iter().map(|v| v["id"].as_str().unwrap()).collect();
    assert_eq!(got, [ids[0].as_str(), ids[2].as_str()]);
    assert_eq!(s.request("DELETE", &format!("/v1/videos/{}", ids[1]), None).status, 404);
}
