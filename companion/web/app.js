// The Xpressify companion page: live mood and player over Server-Sent Events, controls and
// settings through the HTTP API (with the control token), history drawn as a timeline. Where the
// box locks reading too (http.read_token), the token saved in Settings opens it.
"use strict";

// Script errors are kept (for the tests' messages) and shown, never silently lost.
window.__errors = [];
window.addEventListener("error", (e) => window.__errors.push(String(e.message)));
window.addEventListener("unhandledrejection", (e) => window.__errors.push(String(e.reason)));

const EMOTIONS = ["angry", "disgust", "fear", "happy", "sad", "surprise", "neutral"];
const TOKEN_KEY = "xpressify-token";
const $ = (id) => document.getElementById(id);

let status = null;
let player = null;
let ytPlayer = null;
let ytLoading = null;
let loadedPick = null;
let audio = null;
let source = null;
// Whether reading needs the token (http.read_token): only then does it travel in the URLs of
// what cannot send headers (the event stream, <audio>).
let readLocked = false;

function token() {
  return localStorage.getItem(TOKEN_KEY) || "";
}

async function api(method, path, body) {
  const headers = {};
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (token()) headers["Authorization"] = "Bearer " + token();
  try {
    const r = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
    const text = await r.text();
    let data = null;
    try { data = text ? JSON.parse(text) : null; } catch (_) { data = text; }
    return { ok: r.ok, status: r.status, data, method };
  } catch (e) {
    return { ok: false, status: 0, data: { error: "the companion cannot be reached" }, method };
  }
}

function errorText(r) {
  if (r.status === 401) return r.method === "GET" ? "Needs the read token (Settings)." : "Needs the control token (Settings).";
  return (r.data && r.data.error) || ("HTTP " + r.status);
}

// `url` with the token as `access_token` when reading is locked.
function readUrl(url) {
  if (!readLocked || !token()) return url;
  return url + (url.includes("?") ? "&" : "?") + "access_token=" + encodeURIComponent(token());
}

function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === "class") e.className = v;
    // Through the CSSOM: the page's Content-Security-Policy forbids style attributes.
    else if (k === "style") e.style.cssText = v;
    else if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
    else e.setAttribute(k, v);
  }
  for (const c of children) if (c !== null && c !== undefined) e.append(c);
  return e;
}

function ago(ms) {
  if (!ms) return "";
  const s = Math.max(0, Math.round((Date.now() - ms) / 1000));
  if (s < 60) return s + " s";
  if (s < 3600) return Math.floor(s / 60) + " min " + (s % 60) + " s";
  return Math.floor(s / 3600) + " h " + Math.floor((s % 3600) / 60) + " min";
}

function time(ms) {
  return new Date(ms).toLocaleString([], { month: "short", day: "numeric", hour: "2-digit", minute: "2-digit" });
}

function color(emotion) {
  return getComputedStyle(document.documentElement).getPropertyValue("--" + emotion).trim() || "#888";
}

// ---- live view ----

function renderDevices() {
  const box = $("devices");
  const devices = status ? status.devices : [];
  if (!devices.length) {
    box.replaceChildren(el("p", { class: "empty" }, "No device has reported yet."));
    return;
  }
  box.replaceChildren(...devices.map((d) => {
    const bars = el("ul", { class: "bars", "aria-label": "Probabilities" },
      ...EMOTIONS.map((e, i) => {
        const p = Math.round((d.probabilities[i] || 0) * 100);
        return el("li", {}, el("span", {}, e),
          el("span", { class: "bar", role: "meter", "aria-valuemin": "0", "aria-valuemax": "100", "aria-valuenow": String(p), "aria-label": e },
            el("span", { style: "width:" + p + "%;background:" + color(e) })),
          el("span", {}, p + " %"));
      }));
    const select = el("select", { "aria-label": "What the mood really is" },
      el("option", { value: "" }, "(don't say)"), ...EMOTIONS.map((e) => el("option", { value: e }, e)));
    const fix = el("form", { class: "fix", onsubmit: async (ev) => {
      ev.preventDefault();
      const r = await api("POST", "/api/mood-feedback", { device: d.id, detected: d.emotion, actual: select.value || null });
      $("control-msg").textContent = r.ok
        ? "Thanks — noted for " + d.id + (select.value ? "; its camera will learn from it." : ".")
        : errorText(r);
      if (r.ok) loadHistory();
    } }, select, el("button", { type: "submit" }, "That's not my mood"));
    const c = d.calibration;
    const tuned = c && c.corrections > 0 && c.offsets.some((o) => o !== 0);
    const calibration = el("p", { class: "meta calibration" },
      !c ? "Not calibrated yet."
        : c.corrections === 0 ? "Calibration reset (version " + c.version + ")."
        : tuned ? "Tuned by " + c.corrections + " correction" + (c.corrections === 1 ? "" : "s") + " (version " + c.version + ")."
        : "Learning: " + c.corrections + " correction" + (c.corrections === 1 ? "" : "s") + " so far, not enough to change it (version " + c.version + ").",
      " ",
      el("button", { type: "button", class: "reset", onclick: async () => {
        const r = await api("POST", "/api/calibration/reset?device=" + encodeURIComponent(d.id));
        $("control-msg").textContent = r.ok ? "The calibration of " + d.id + " is reset." : errorText(r);
      } }, "Reset calibration"));
    return el("article", { class: "card device" + (d.online ? "" : " offline"), "data-device": d.id },
      el("h3", {}, d.id),
      el("p", { class: "mood", style: "color:" + (d.emotion ? color(d.emotion) : "inherit") },
        d.emotion || (d.paused ? "camera off" : "no face")),
      el("p", { class: "meta" },
        (d.online ? "online" : "offline") +
        (d.emotion ? " · " + Math.round(d.confidence * 100) + " % sure" : "") +
        (d.since_ms ? " · for " : ""),
        el("span", { class: "since", "data-since": String(d.since_ms) }, ago(d.since_ms))),
      bars, fix, calibration);
  }));
}

// With several rooms the first card plays the first room, and each other room gets a card of
// its own below it; every card's controls act on its room.
function rooms() {
  return (status && status.rooms) || [];
}

function firstRoom() {
  return rooms().length > 1 ? rooms()[0].name : null;
}

function nowText(np) {
  return np ? np.title + (np.artist ? " — " + np.artist : "") : "Nothing yet.";
}

// "Play for this mood": the seven emotions, or the camera's mood (a chosen one lasts
// music.choose_minutes, 30 by default).
function setMood(value, room) {
  return command({ command: "set_mood", mood: value || null }, room);
}
function chooser(r) {
  const chosen = r.chosen ? r.chosen.mood : "";
  const select = el("select", { "aria-label": "Play for this mood in " + r.name, onchange: (e) => setMood(e.target.value, r.name) },
    el("option", { value: "" }, "the camera's mood"),
    ...EMOTIONS.map((m) => el("option", m === chosen ? { value: m, selected: "" } : { value: m }, m)));
  return select;
}
function chosenText(r) {
  return r && r.chosen ? " · chosen: " + r.chosen.mood + " until " + new Date(r.chosen.until_ms).toLocaleTimeString() : "";
}

function renderRooms() {
  const list = rooms();
  if (list.length) {
    $("follow").checked = list[0].follow !== false;
    if (document.activeElement !== $("choose")) $("choose").value = list[0].chosen ? list[0].chosen.mood : "";
  }
  $("player-title").textContent = list.length > 1 ? "Playing in " + list[0].name : "Playing";
  const box = $("rooms");
  if (list.length <= 1) { box.replaceChildren(); return; }
  box.replaceChildren(...list.slice(1).map((r) => {
    const np = r.now_playing;
    const id = "room-" + r.name.replace(/[^A-Za-z0-9_-]/g, "_");
    const button = (cmd, label, aria) => el("button", { type: "button", "data-room-command": cmd, "aria-label": aria || (label + " in " + r.name),
      onclick: () => command({ command: cmd }, r.name) }, label);
    const volume = el("input", { type: "range", min: "0", max: "100", step: "5", value: "60", "aria-label": "Volume in " + r.name,
      onchange: (e) => command({ command: "set_volume", volume: Number(e.target.value) }, r.name) });
    return el("article", { class: "card player room", "data-room": r.name, "aria-labelledby": id },
      el("h3", { id }, "Playing in " + r.name),
      el("p", { class: "np" }, nowText(np)),
      r.why ? el("p", { class: "muted why" }, "Why this song: " + r.why) : null,
      el("p", { class: "muted" }, "On " + r.sink.replace("_", " ") + " · " + r.state +
        (r.mood ? " · following " + r.mood + (r.mood_device ? " (" + r.mood_device + ")" : "") : " · no mood yet") + chosenText(r)),
      el("div", { class: "controls", role: "group", "aria-label": "Controls in " + r.name },
        button("play", "Play"), button("pause", "Pause"), button("skip", "Skip"),
        button("like", "Like", "Like this pick in " + r.name), button("dislike", "Dislike", "Dislike this pick in " + r.name),
        el("label", { class: "volume" }, "Volume ", volume),
        el("label", { class: "follow" }, el("input", Object.assign({ type: "checkbox", "aria-label": "Music follows my mood in " + r.name,
          onchange: (e) => command({ command: "follow", on: e.target.checked }, r.name) }, r.follow ? { checked: "" } : {})), " Music follows my mood"),
        el("label", { class: "choose" }, "Play for ", chooser(r))),
      r.problem ? el("p", { class: "problem", role: "alert" }, r.problem) : null);
  }));
  const filter = $("room-filter");
  $("room-filter-label").hidden = false;
  const known = new Set([...filter.options].map((o) => o.value));
  for (const r of list) if (!known.has(r.name)) filter.append(el("option", { value: r.name }, r.name));
}

function renderNowPlaying() {
  const np = status && status.now_playing;
  $("np").textContent = nowText(np);
  $("sink-state").textContent = status
    ? "On " + status.sink.replace("_", " ") + (np ? " · " + np.state + " · picked for " + np.mood : "") + chosenText(rooms()[0])
    : "";
  const why = rooms()[0] && rooms()[0].why;
  $("why").hidden = !why;
  $("why").textContent = why ? "Why this song: " + why : "";
  const problem = status && status.problem;
  $("problem").hidden = !problem;
  $("problem").textContent = problem || "";
}

function renderSources() {
  if (!status) return;
  const yt = status.youtube || { state: "ok" };
  const key = { ok: "present", no_key: "missing (local catalogue plays)", key_invalid: "refused by YouTube: " + (yt.message || ""),
    paused: "paused: " + (yt.reason || ""), failing: "failing: " + (yt.message || "") }[yt.state] || yt.state;
  const b = status.youtube_budget;
  const facts = [
    ["Broker", status.broker_connected ? "connected" : "disconnected"],
    ["YouTube key", key],
    ["Searches left today", b ? Math.max(0, b.budget - b.spent) + " of " + b.budget + " (resets " + time(b.resets_ms) + ")" : "—"],
    ["Playing on", status.sink.replace("_", " ")],
    ["Policy", status.policy || "—"],
    ["Devices", status.devices.map((d) => d.id + (d.online ? "" : " (offline)")).join(", ") || "none yet"],
    ["Refused messages", Object.entries(status.refused).map(([k, v]) => k + ": " + v).join(", ") || "none"],
  ];
  $("sources").replaceChildren(...facts.flatMap(([k, v]) => [el("dt", {}, k), el("dd", {}, v)]));
  const filter = $("device-filter");
  const known = new Set([...filter.options].map((o) => o.value));
  for (const d of status.devices) if (!known.has(d.id)) filter.append(el("option", { value: d.id }, d.id));
}

function onStatus(s) {
  const moodChanged = !status || JSON.stringify(status.devices.map((d) => [d.id, d.emotion])) !== JSON.stringify(s.devices.map((d) => [d.id, d.emotion]));
  status = s;
  $("link").textContent = s.broker_connected ? "live" : "broker disconnected";
  $("link").classList.toggle("down", !s.broker_connected);
  renderDevices();
  renderNowPlaying();
  renderRooms();
  renderSources();
  if (moodChanged) scheduleHistory();
}

// ---- the web player ----

function loadYoutubeApi() {
  if (ytLoading) return ytLoading;
  ytLoading = new Promise((resolve, reject) => {
    window.onYouTubeIframeAPIReady = () => resolve();
    const s = document.createElement("script");
    s.src = "https://www.youtube.com/iframe_api";
    s.onerror = () => reject(new Error("the YouTube player cannot load (no connection to youtube.com)"));
    document.head.append(s);
  });
  return ytLoading;
}

async function report(event, message) {
  if (!player || !player.item) return;
  const r = await api("POST", "/api/player/report", { pick_id: player.item.pick_id, event, message: message || "" });
  if (!r.ok && r.status !== 409) $("control-msg").textContent = errorText(r);
}

async function playYoutube(item) {
  $("yt-frame").hidden = false;
  try {
    await loadYoutubeApi();
  } catch (e) {
    $("yt-frame").hidden = true;
    $("sink-state").textContent = e.message;
    return;
  }
  if (!ytPlayer) {
    ytPlayer = new YT.Player("yt", {
      videoId: item.track.video_id,
      playerVars: { autoplay: 1, playsinline: 1, rel: 0 },
      events: {
        onReady: () => { ytPlayer.setVolume(player.volume); ytPlayer.playVideo(); },
        onStateChange: (e) => { if (e.data === YT.PlayerState.ENDED) report("ended"); },
        onError: (e) => report("failed", "YouTube player error " + e.data),
      },
    });
  } else {
    ytPlayer.loadVideoById(item.track.video_id);
  }
}

function playFile(item) {
  $("yt-frame").hidden = true;
  if (!audio) {
    audio = el("audio", { controls: "" });
    audio.addEventListener("ended", () => report("ended"));
    audio.addEventListener("error", () => report("failed", "the browser cannot play this file"));
    $("player-title").after(audio);
  }
  audio.src = readUrl("/media/" + item.track.file.split("/").map(encodeURIComponent).join("/"));
  audio.play().catch(() => {});
}

function onPlayer(p) {
  player = p;
  if (!p) return;
  const item = p.item;
  if (item && item.pick_id !== loadedPick) {
    loadedPick = item.pick_id;
    if (item.track.source === "youtube") playYoutube(item); else playFile(item);
  }
  if (!item) { loadedPick = null; if (ytPlayer && ytPlayer.stopVideo) ytPlayer.stopVideo(); if (audio) audio.pause(); }
  const paused = p.state !== "playing";
  if (ytPlayer && ytPlayer.pauseVideo) { if (paused) ytPlayer.pauseVideo(); else if (item) ytPlayer.playVideo(); ytPlayer.setVolume(p.volume); }
  if (audio) { audio.volume = p.volume / 100; if (paused) audio.pause(); else if (item) audio.play().catch(() => {}); }
  $("volume").value = p.volume;
}

// ---- controls ----

// A command for `room` (null: the first card's, which with one room needs no name).
async function command(body, room) {
  const path = "/api/command" + (room ? "?room=" + encodeURIComponent(room) : "");
  const r = await api("POST", path, body);
  $("control-msg").textContent = r.ok
    ? "Sent: " + body.command.replace("_", " ") + (room ? " in " + room : "") + "."
    : errorText(r);
}

for (const b of document.querySelectorAll("[data-command]")) {
  b.addEventListener("click", () => command({ command: b.dataset.command }, firstRoom()));
}
$("volume").addEventListener("change", (e) => command({ command: "set_volume", volume: Number(e.target.value) }, firstRoom()));
$("follow").addEventListener("change", (e) => command({ command: "follow", on: e.target.checked }, firstRoom()));
$("choose").addEventListener("change", (e) => setMood(e.target.value, firstRoom()));

// ---- history ----

let historyTimer = null;
function scheduleHistory() {
  clearTimeout(historyTimer);
  historyTimer = setTimeout(loadHistory, 300);
}

async function loadHistory() {
  const room = $("room-filter").value;
  const r = await api("GET", "/api/history?limit=2000" + (room ? "&room=" + encodeURIComponent(room) : ""));
  if (!r.ok) return;
  const device = $("device-filter").value;
  const keep = (x) => !device || x.device === device;
  drawTimeline(r.data.moods.filter(keep));
  const rows = r.data.picks.filter(keep).slice(0, 50).map((p) => el("tr", {},
    el("td", {}, time(p.at_ms)),
    el("td", {}, p.mood),
    el("td", {}, p.title + (p.artist ? " — " + p.artist : "")),
    el("td", p.reason ? { title: p.reason } : {}, p.query),
    el("td", {}, p.feedback.map(([k, n]) => k.replace("_", " ") + (n > 1 ? " ×" + n : "")).join(", "))));
  $("picks").tBodies[0].replaceChildren(...(rows.length ? rows : [el("tr", {}, el("td", { colspan: "5", class: "empty" }, "No picks yet."))]));
  const fixes = r.data.corrections.filter(keep).slice(0, 20).map((c) =>
    el("li", {}, time(c.at_ms) + " · " + c.device + ": detected " + (c.detected || "no face") + (c.actual ? ", really " + c.actual : "")));
  $("corrections").replaceChildren(...(fixes.length ? fixes : [el("li", { class: "empty" }, "None yet.")]));
}

function drawTimeline(moods) {
  const svg = $("timeline");
  const ns = "http://www.w3.org/2000/svg";
  const span = Number($("span").value);
  const end = Date.now();
  const start = end - span;
  const rowH = 200 / EMOTIONS.length;
  const shapes = [];
  EMOTIONS.forEach((e, i) => {
    const band = document.createElementNS(ns, "rect");
    band.setAttribute("x", "0"); band.setAttribute("y", String(i * rowH));
    band.setAttribute("width", "800"); band.setAttribute("height", String(rowH));
    band.setAttribute("fill", i % 2 ? "#f3f1ec" : "#fbfaf8");
    shapes.push(band);
  });
  const byDevice = {};
  for (const m of moods) (byDevice[m.device] = byDevice[m.device] || []).push(m);
  let drawn = 0;
  for (const list of Object.values(byDevice)) {
    list.sort((a, b) => a.at_ms - b.at_ms);
    list.forEach((m, k) => {
      const to = k + 1 < list.length ? list[k + 1].at_ms : end;
      if (!m.emotion || to < start) return;
      const from = Math.max(m.at_ms, start);
      const row = EMOTIONS.indexOf(m.emotion);
      const r = document.createElementNS(ns, "rect");
      r.setAttribute("x", String(((from - start) / span) * 800));
      r.setAttribute("width", String(Math.max(1, ((to - from) / span) * 800)));
      r.setAttribute("y", String(row * rowH + 2));
      r.setAttribute("height", String(rowH - 4));
      r.setAttribute("fill", color(m.emotion));
      const t = document.createElementNS(ns, "title");
      t.textContent = m.device + ": " + m.emotion + " from " + time(m.at_ms);
      r.append(t);
      shapes.push(r);
      drawn++;
    });
  }
  svg.replaceChildren(...shapes);
  $("timeline-caption").textContent = drawn
    ? "Moods over the chosen span, one row per emotion (top: angry, bottom: neutral)."
    : "No moods in the chosen span.";
}

$("device-filter").addEventListener("change", loadHistory);
$("room-filter").addEventListener("change", loadHistory);
$("span").addEventListener("change", loadHistory);
$("legend").replaceChildren(...EMOTIONS.map((e) => el("li", {}, el("i", { style: "background:" + color(e) }), e)));

// ---- settings ----

$("token").value = token();
$("token-form").addEventListener("submit", (e) => {
  e.preventDefault();
  localStorage.setItem(TOKEN_KEY, $("token").value.trim());
  $("token-msg").textContent = "Saved in this browser.";
  connect();
  loadHistory();
  loadMapping();
});

const FIELDS = [["match", "Search phrases"], ["lift", "Phrases to lift the mood"], ["genres", "Genres"], ["artists", "Artists"], ["languages", "Languages"]];

async function loadMapping() {
  const r = await api("GET", "/api/mapping");
  if (!r.ok) return;
  const m = r.data;
  for (const radio of document.querySelectorAll("input[name=policy]")) radio.checked = radio.value === m.policy;
  $("mapping-rows").replaceChildren(...EMOTIONS.map((e) => {
    const entry = m.emotions[e] || {};
    return el("fieldset", { "data-emotion": e }, el("legend", {}, e),
      ...FIELDS.map(([key, label]) => el("label", {}, label,
        el("textarea", { name: key, "aria-label": e + " " + label.toLowerCase() }, (entry[key] || []).join("\n")))));
  }));
  $("mapping-rows").dataset.liftTo = JSON.stringify(Object.fromEntries(EMOTIONS.map((e) => [e, (m.emotions[e] || {}).lift_to || null])));
  // Each emotion's place on the mood plane (music.emotions.*.place): kept as it is on save.
  $("mapping-rows").dataset.places = JSON.stringify(Object.fromEntries(EMOTIONS.map((e) => [e, (m.emotions[e] || {}).place || null])));
}

$("mapping-form").addEventListener("submit", async (e) => {
  e.preventDefault();
  const liftTo = JSON.parse($("mapping-rows").dataset.liftTo || "{}");
  const places = JSON.parse($("mapping-rows").dataset.places || "{}");
  const emotions = {};
  for (const fs of $("mapping-rows").querySelectorAll("fieldset")) {
    const entry = {};
    for (const [key] of FIELDS) {
      entry[key] = fs.querySelector("textarea[name=" + key + "]").value.split("\n").map((s) => s.trim()).filter(Boolean);
    }
    if (liftTo[fs.dataset.emotion]) entry.lift_to = liftTo[fs.dataset.emotion];
    if (places[fs.dataset.emotion]) entry.place = places[fs.dataset.emotion];
    emotions[fs.dataset.emotion] = entry;
  }
  const policy = (document.querySelector("input[name=policy]:checked") || {}).value || "match";
  const r = await api("PUT", "/api/mapping", { policy, emotions });
  $("mapping-msg").textContent = r.ok ? "Saved." : errorText(r);
  if (r.ok) loadMapping();
});

// ---- your music ----

let library = { tracks: [], places: {}, total: 0, folder: null };
const SHOWN_TRACKS = 200;

async function loadLibrary() {
  const tracks = [];
  let first = null;
  // Pages of up to 1000 tracks; a library of 20,000 is twenty requests.
  for (let offset = 0; offset < 20000; offset += 1000) {
    const r = await api("GET", "/api/library?offset=" + offset + "&limit=1000");
    if (!r.ok) { $("library-note").textContent = errorText(r); return; }
    first = first || r.data;
    tracks.push(...r.data.tracks);
    if (tracks.length >= r.data.total || !r.data.tracks.length) break;
  }
  library = { tracks, places: first.places, total: first.total, folder: first.folder };
  $("library-note").textContent = library.folder
    ? library.total + " tracks in " + library.folder + (library.total ? "" : " (the scan may still be running)")
    : "No music folder: set library.folder in the companion's config, and your own music plays without YouTube.";
  drawPlane();
  renderTracks();
}

// SVG coordinates of a place: valence left to right, arousal bottom to top.
function planeXY(p) {
  return [20 + p.valence * 360, 380 - p.arousal * 360];
}

function svg(tag, attrs, ...children) {
  const e = document.createElementNS("http://www.w3.org/2000/svg", tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
    else e.setAttribute(k, v);
  }
  for (const c of children) e.append(c);
  return e;
}

function drawPlane() {
  const plane = $("plane");
  plane.replaceChildren(
    svg("line", { x1: 200, y1: 20, x2: 200, y2: 380, stroke: "#dedbd5" }),
    svg("line", { x1: 20, y1: 200, x2: 380, y2: 200, stroke: "#dedbd5" }));
  for (const t of library.tracks) {
    const [x, y] = planeXY(t);
    plane.append(svg("circle", { cx: x, cy: y, r: 4, class: "track", "data-file": t.file,
      fill: color(t.moods[0] || "neutral"), "fill-opacity": 0.7,
      onclick: () => { $("library-filter").value = t.title; renderTracks(); } },
      svg("title", {}, document.createTextNode(t.title + (t.artist ? " — " + t.artist : "") + " (" + t.source + ")"))));
  }
  for (const e of EMOTIONS) {
    const p = library.places[e];
    if (!p) continue;
    const [x, y] = planeXY(p);
    plane.append(svg("circle", { cx: x, cy: y, r: 72, fill: "none", stroke: color(e), "stroke-dasharray": "4 4", "stroke-opacity": 0.6 }),
      svg("text", { x, y: y + 4, "text-anchor": "middle", fill: color(e) }, document.createTextNode(e)));
  }
}

function renderTracks() {
  const q = $("library-filter").value.trim().toLowerCase();
  const matching = library.tracks.filter((t) => !q || (t.title + " " + t.artist + " " + t.file).toLowerCase().includes(q));
  const body = $("tracks").querySelector("tbody");
  body.replaceChildren(...matching.slice(0, SHOWN_TRACKS).map((t) => {
    const move = el("select", { "aria-label": "Move " + t.title + " to the music of", onchange: (e) => moveTrack(t, e.target.value) },
      el("option", { value: "" }, "—"),
      ...EMOTIONS.map((m) => el("option", { value: m }, m)));
    const back = t.source === "listener"
      ? el("button", { type: "button", onclick: () => unmoveTrack(t) }, "Undo")
      : null;
    return el("tr", { "data-file": t.file },
      el("td", {}, t.title), el("td", {}, t.artist),
      el("td", {}, t.moods.join(", ")), el("td", {}, t.source), el("td", {}, move, back));
  }));
  $("library-msg").textContent = matching.length > SHOWN_TRACKS
    ? "Showing " + SHOWN_TRACKS + " of " + matching.length + "; narrow it with Find."
    : "";
  for (const c of $("plane").querySelectorAll(".track")) {
    c.classList.toggle("picked", !!q && matching.some((t) => t.file === c.dataset.file));
  }
}

async function moveTrack(t, emotion) {
  if (!emotion) return;
  const p = library.places[emotion];
  const r = await api("PUT", "/api/library/place", { file: t.file, valence: p.valence, arousal: p.arousal });
  $("library-msg").textContent = r.ok ? "Moved " + t.title + " to the " + emotion + " music." : errorText(r);
  if (r.ok) loadLibrary();
}

async function unmoveTrack(t) {
  const r = await api("DELETE", "/api/library/place", { file: t.file });
  $("library-msg").textContent = r.ok ? t.title + " is back where its sound put it." : errorText(r);
  if (r.ok) loadLibrary();
}

$("library-filter").addEventListener("input", renderTracks);

// ---- start ----

async function connect() {
  if (source) source.close();
  try {
    readLocked = (await fetch("/api/status")).status === 401;
  } catch (_) {
    readLocked = false;
  }
  if (readLocked && !token()) {
    $("link").textContent = "this box needs a token to show anything (Settings)";
    $("link").classList.add("down");
    return;
  }
  source = new EventSource(readUrl("/api/events"));
  source.addEventListener("status", (e) => onStatus(JSON.parse(e.data)));
  source.addEventListener("player", (e) => onPlayer(JSON.parse(e.data)));
  source.onerror = () => {
    $("link").textContent = "reconnecting…";
    $("link").classList.add("down");
  };
}

setInterval(() => {
  for (const s of document.querySelectorAll(".since")) s.textContent = ago(Number(s.dataset.since));
}, 1000);
setInterval(loadHistory, 30000);
connect();
loadHistory();
loadMapping();
loadLibrary();
