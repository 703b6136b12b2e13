// The wsshm-rt page: a photo matted by POST /v1/matte, and a live camera matted over the WebSocket /v1/live.
// Plain JS, no build step. State the tests read: #result[data-state], #live-out[data-frames].
"use strict";

const $ = (id) => document.getElementById(id);
let photo = null;       // the File being matted
let resultUrl = null;   // object URL of the last answer (shown and offered for download)
let live = null;        // {stream, ws, grab, times} while the camera runs
let asked = 0;          // requests made: an answer to an older one than the last is not shown

function chosenBackground() {
  const kind = document.querySelector('input[name="bg"]:checked').value;
  if (kind === "colour") return {kind, text: $("bg-colour").value};
  if (kind === "blur") return {kind, text: "blur"};
  if (kind === "image") return {kind, file: $("bg-file").files[0] || null};
  return {kind};
}

function say(el, text, isError = false) {
  el.textContent = text;
  el.classList.toggle("error", isError);
}

// ---------------------------------------------------------------- photo

async function matte() {
  if (!photo) return;
  const bg = chosenBackground(), form = new FormData(), query = new URLSearchParams();
  if (bg.kind === "image" && !bg.file) return say($("status"), "Pick a background image first.", true);
  form.append("image", photo);
  query.set("output", bg.kind === "transparent" ? "rgba" : "composite");
  if (bg.text) query.set("background", bg.text);
  if (bg.file) form.append("background", bg.file);
  const mine = ++asked, started = performance.now();
  $("result").dataset.state = "busy";
  say($("status"), `Matting ${photo.name}…`);
  try {
    const res = await fetch("/v1/matte?" + query, {method: "POST", body: form});
    if (!res.ok) throw new Error((await res.json().catch(() => ({}))).error || res.statusText);
    const blob = await res.blob();
    if (mine !== asked) return;
    await show(blob);
    say($("status"), `${photo.name}: ${Math.round(performance.now() - started)} ms`);
  } catch (err) {
    if (mine !== asked) return;
    $("result").dataset.state = "error";
    say($("status"), err.message, true);
  }
}

async function show(blob) {
  if (resultUrl) URL.revokeObjectURL(resultUrl);
  resultUrl = URL.createObjectURL(blob);
  const img = $("result");
  img.src = resultUrl;
  await img.decode();
  const link = $("download");
  link.href = resultUrl;
  link.download = photo.name.replace(/\.[^.]*$/, "") + ".png";
  link.hidden = false;
  img.dataset.state = "done";
}

function pick(file) {
  if (!file) return;
  photo = file;
  matte();
}

$("file").addEventListener("change", (e) => pick(e.target.files[0]));
const drop = $("drop");
drop.addEventListener("dragover", (e) => { e.preventDefault(); drop.classList.add("over"); });
drop.addEventListener("dragleave", () => drop.classList.remove("over"));
drop.addEventListener("drop", (e) => {
  e.preventDefault();
  drop.classList.remove("over");
  pick(e.dataTransfer.files[0]);
});
for (const el of document.querySelectorAll('input[name="bg"], #bg-colour, #bg-file')) {
  el.addEventListener("change", () => { matte(); liveBackground(); });
}

// ---------------------------------------------------------------- live

function liveBackgroundText() {
  const bg = chosenBackground();
  return bg.text || "#00ff00";  // live frames take a colour or blur; green for the other choices
}

function liveBackground() {
  if (live && live.ws.readyState === WebSocket.OPEN) live.ws.send(JSON.stringify({background: liveBackgroundText()}));
}

async function startLive() {
  $("live-start").disabled = true;
  try {
    const stream = await navigator.mediaDevices.getUserMedia({video: {width: 640, height: 480}, audio: false});
    const video = $("camera");
    video.srcObject = stream;
    await video.play();
    const proto = location.protocol === "https:" ? "wss" : "ws";
    const query = new URLSearchParams({background: liveBackgroundText()});
    const ws = new WebSocket(`${proto}://${location.host}/v1/live?${query}`);
    ws.binaryType = "blob";
    live = {stream, ws, grab: document.createElement("canvas"), times: []};
    ws.onopen = sendFrame;
    ws.onmessage = received;
    ws.onclose = () => stopLive();
    $("live-stop").disabled = false;
    say($("live-status"), "Live.");
  } catch (err) {
    say($("live-status"), `Camera not available: ${err.message}`, true);
    stopLive();
  }
}

// One frame in flight: the next is sent when the answer is back, so a slow server lowers the frame rate
// instead of building a queue.
function sendFrame() {
  if (!live || live.ws.readyState !== WebSocket.OPEN) return;
  const video = $("camera"), grab = live.grab;
  if (!video.videoWidth) return setTimeout(sendFrame, 50);
  grab.width = video.videoWidth;
  grab.height = video.videoHeight;
  grab.getContext("2d").drawImage(video, 0, 0);
  grab.toBlob((blob) => live && live.ws.readyState === WebSocket.OPEN && live.ws.send(blob), "image/jpeg", 0.85);
}

async function received(event) {
  if (typeof event.data === "string") {  // an error about one frame or a setting; the stream goes on
    const message = JSON.parse(event.data);
    say($("live-status"), message.error, true);
    return message.frame ? setTimeout(sendFrame, 200) : undefined;
  }
  const bitmap = await createImageBitmap(event.data);
  const out = $("live-out");
  out.width = bitmap.width;
  out.height = bitmap.height;
  out.getContext("2d").drawImage(bitmap, 0, 0);
  bitmap.close();
  out.dataset.frames = Number(out.dataset.frames) + 1;
  countFrame();
  sendFrame();
}

function countFrame() {
  const now = performance.now(), times = live.times;
  times.push(now);
  while (times.length > 2 && now - times[0] > 2000) times.shift();  // the rate over the last two seconds
  if (times.length > 1) $("fps").textContent = `${((times.length - 1) * 1000 / (now - times[0])).toFixed(1)} FPS`;
}

function stopLive() {
  if (live) {
    live.stream.getTracks().forEach((t) => t.stop());
    if (live.ws.readyState <= WebSocket.OPEN) live.ws.close();
    live = null;
  }
  $("live-start").disabled = false;
  $("live-stop").disabled = true;
}

$("live-start").addEventListener("click", startLive);
$("live-stop").addEventListener("click", () => { stopLive(); say($("live-status"), "Stopped."); });
