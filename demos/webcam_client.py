"""The live webcam's page-side client: the markup, style and script of one `gr.HTML` component that
captures the camera, sends frames to the server function `live_frame` and shows its answers.

How it runs (the script, `client_js()`):

- **Start** asks for the camera (getUserMedia, CAMERA_CONSTRAINTS); a refusal, a missing camera or
  a page that is not a secure origin gives a plain sentence in the rate line (CAMERA_MESSAGES);
- capture is paced by the camera: each new camera frame (`video.requestVideoFrameCallback`, or a
  timer of FALLBACK_FRAME_MS where the browser lacks it) marks a frame as ready, and a ready frame
  is drawn to a canvas (longest side at most the frame-size setting), encoded as a JPEG data URL and
  sent with `server.live_frame({...})` whenever fewer than `frames_in_flight` are on their way: a
  camera frame is sent at most once, and frames captured while the page is full are skipped;
- `server.live_frame` is Gradio's call of a component's server function (a POST to
  `/gradio_api/component_server/` with this page's session; no queue, no event stream). Its answer
  carries the depth picture (the colour index as a grey JPEG, painted through the colour table:
  demos.webcam_tab.colour_table_filter), and a few times a second the rate line and the colourbar's
  range; answers are numbered as sent and only one newer than the last shown is shown;
- a stream without a live place gets its place in line and sends again after `retry_s`; an answer
  with an error stops the stream and shows the message; no answer at all (the server unreachable,
  a request refused) three times running stops it with NO_ANSWER;
- **Stop** ends the camera and tells the server (`server.live_stop`), which frees the stream's live
  place at once; the last depth picture stays;
- the settings (frame size, model) are the component's props `max_side`, `model_choice` and
  `model_custom`, which the tab's change events update; the page reads them for every frame;
- the component's `stream_started` event fires on the stream's first picture and on the first
  picture made with a new model choice, so the tab can say which model the pictures come from.

The stream's id is made per page load; the browser's id is the one BROWSER_ID_JS keeps in local
storage (one stream per browser, demos.webcam_slots).
"""
from __future__ import annotations

import json

from .labels import colour_stops

# The page keeps this many frames on their way to the server. One leaves the server idle while the
# page downloads, decodes and paints each answer (~60 ms of a ~100 ms cycle measured on the 2-core
# test machine, docs/app.md); two overlap that page work with the server's next frame; a third would
# only wait behind the model (one forward at a time) and make every picture older.
FRAMES_IN_FLIGHT = 2
FALLBACK_FRAME_MS = 33  # where requestVideoFrameCallback is missing: a frame every 33 ms (a 30 fps camera)
CAPTURE_QUALITY = 0.8  # canvas JPEG quality of a sent frame (~12 kB at 320x240)
FAILURES_TO_STOP = 3  # answers missing in a row before the page stops the stream
RETRY_AFTER_FAILURE_MS = 500
LIVE_ELEM_ID = "webcam-depth"

CAMERA_MESSAGES = {
    "NotAllowedError": "The camera was not allowed. Allow it for this page (the camera icon in the address bar), "
                       "then press Start again.",
    "NotFoundError": "No camera was found. Connect one (or close the program holding it), then press Start again.",
    "NotReadableError": "The camera could not be started: another program may be using it. Close that program, "
                        "then press Start again.",
    "OverconstrainedError": "No camera was found that can give a picture. Connect another camera, then press Start again.",
    "insecure": "The browser offers the camera only to a secure page (https:// or localhost). Open this page over "
                "https:// to use the camera.",
    "other": "The camera could not be started. Check that the browser may use it, then press Start again.",
}
NO_ANSWER = ("The server did not answer the last frames (the connection dropped, or a frame was refused). "
             "Press Start to try again.")
IDLE_LINE = "Not streaming: press Start."


def client_template(filter_svg: str, cmap: str) -> str:
    """The component's markup: camera preview with Start and Stop, the depth picture (`filter_svg`
    paints its grey index in `cmap`), its title, the colourbar (range filled by the page) and the
    rate line. No `${` or `{{`: Gradio evaluates the template as a JS template and Handlebars."""
    return (
        '<div class="live-view">'
        '<div class="live-camera-box">'
        '<video class="live-camera" autoplay playsinline muted aria-label="Your camera"></video>'
        '<div class="live-controls">'
        '<button type="button" class="live-start">● Start</button>'
        '<button type="button" class="live-stop" hidden>■ Stop</button>'
        '</div></div>'
        '<div class="live-depth-box">'
        '<p class="live-depth-title"><strong>Live depth</strong> (near is warm)</p>'
        f'{filter_svg}<img alt="Live depth, near is warm" class="live-depth">'
        '<div class="colourbar live-colourbar" role="img" aria-label="depth colourbar" hidden>'
        f'<div class="colourbar-strip" style="background: linear-gradient(to right, {colour_stops(cmap)})"></div>'
        f'<div class="colourbar-text"><span class="live-near"></span><span>depth · {cmap}</span>'
        '<span class="live-far"></span></div></div>'
        f'<p class="live-rate" aria-live="polite">{IDLE_LINE}</p>'
        '</div></div>'
    )


def client_css(filter_id: str) -> str:
    """The component's style: camera and depth side by side, stacked on a narrow screen; the depth
    picture fills its column whatever the frame size (a 128 px frame is not a thumbnail)."""
    return (
        ".live-view {display: flex; flex-wrap: wrap; gap: 12px; align-items: flex-start} "
        ".live-camera-box, .live-depth-box {flex: 1 1 300px; min-width: 0} "
        ".live-camera {display: block; width: 100%; max-height: 240px; background: #222; border-radius: 6px; "
        "object-fit: contain} "
        ".live-controls {display: flex; gap: 8px; margin-top: 8px} "
        ".live-controls button {flex: 1; padding: 8px 12px; border-radius: 6px; font-weight: 600; cursor: pointer; "
        "border: 1px solid var(--border-color-primary); background: var(--button-secondary-background-fill); "
        "color: var(--button-secondary-text-color)} "
        ".live-controls button.live-start {background: var(--button-primary-background-fill); "
        "color: var(--button-primary-text-color)} "
        ".live-controls button:disabled {opacity: 0.6; cursor: wait} "
        "[hidden] {display: none !important} "
        ".live-depth-title {margin: 0 0 4px 0} "
        ".live-depth {display: block; width: 100%; height: auto; margin: 0 auto; "
        f"filter: url(#{filter_id})}} .live-depth:not([src]) {{display: none}} "
        ".live-rate {margin: 6px 0 0 0; font-size: 0.9em}"
    )


def client_js(browser_id_js: str, camera_constraints: dict, frames_in_flight: int = FRAMES_IN_FLIGHT) -> str:
    """The component's script (Gradio runs it once the component is on the page, with `element`,
    `props`, `server`, `trigger` and `watch`). `browser_id_js`: a JS function expression returning
    this browser's id."""
    constants = {
        "FLIGHT": frames_in_flight, "FALLBACK_MS": FALLBACK_FRAME_MS, "QUALITY": CAPTURE_QUALITY,
        "FAILURES": FAILURES_TO_STOP, "RETRY_MS": RETRY_AFTER_FAILURE_MS, "CAMERA": camera_constraints,
        "MESSAGES": CAMERA_MESSAGES, "NO_ANSWER": NO_ANSWER,
    }
    header = "".join(f"const {name} = {json.dumps(value)};\n" for name, value in constants.items())
    return header + f"const browserId = ({browser_id_js})();\n" + _CLIENT_BODY


_CLIENT_BODY = r"""
const video = element.querySelector('video.live-camera');
const img = element.querySelector('img.live-depth');
const startButton = element.querySelector('button.live-start');
const stopButton = element.querySelector('button.live-stop');
const rate = element.querySelector('.live-rate');
const bar = element.querySelector('.live-colourbar');
const canvas = document.createElement('canvas');
const streamId = (window.crypto && window.crypto.randomUUID) ? window.crypto.randomUUID()
  : Date.now().toString(36) + Math.random().toString(36).slice(2);
let camera = null, running = false, run = 0, inFlight = 0, sent = 0, newest = -1, ready = false;
let holdUntil = 0, failures = 0, modelShown = null;

const say = text => { rate.textContent = text; };

function cameraMessage(error) {
  const name = error && error.name;
  if (name === 'SecurityError') return MESSAGES.NotAllowedError;
  return MESSAGES[name] || MESSAGES.other;
}

async function start() {
  if (running || startButton.disabled) return;
  if (!window.isSecureContext || !navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
    say(MESSAGES.insecure);
    return;
  }
  startButton.disabled = true;
  say('Starting the camera…');
  try {
    camera = await navigator.mediaDevices.getUserMedia(CAMERA);
  } catch (error) {
    startButton.disabled = false;
    say(cameraMessage(error));
    return;
  }
  video.srcObject = camera;
  try { await video.play(); } catch (error) { /* autoplay of a muted video is allowed; paced below anyway */ }
  running = true; run += 1; inFlight = 0; newest = -1; ready = false; holdUntil = 0; failures = 0; modelShown = null;
  startButton.disabled = false; startButton.hidden = true; stopButton.hidden = false;
  say('Waiting for the first depth picture…');
  followCamera(run);
}

// Each new camera frame makes one frame ready to send (the camera paces the capture).
function followCamera(mine) {
  const next = () => {
    if (!running || mine !== run) return;
    ready = true;
    pump();
    wait();
  };
  const wait = () => (video.requestVideoFrameCallback ? video.requestVideoFrameCallback(next)
                                                      : setTimeout(next, FALLBACK_MS));
  wait();
}

function capture() {
  const width = video.videoWidth, height = video.videoHeight;
  if (!width || !height) return null;
  const scale = Math.min(1, Number(props.max_side) / Math.max(width, height)) || 1;
  canvas.width = Math.max(1, Math.round(width * scale));
  canvas.height = Math.max(1, Math.round(height * scale));
  canvas.getContext('2d').drawImage(video, 0, 0, canvas.width, canvas.height);
  return canvas.toDataURL('image/jpeg', QUALITY);
}

function pump() {
  if (!running || !ready || inFlight >= FLIGHT || performance.now() < holdUntil) return;
  const frame = capture();
  if (!frame) return;
  ready = false;
  send(frame, run, sent++);
}

async function send(frame, mine, number) {
  inFlight += 1;
  const model = JSON.stringify([props.model_choice, props.model_custom]);  // the model this frame asks for
  let answer;
  try {
    answer = await server.live_frame({frame: frame, stream: streamId, browser: browserId,
                                      max_side: props.max_side, model: props.model_choice,
                                      custom: props.model_custom});
  } catch (error) {
    answer = undefined;
  }
  if (mine !== run) return;  // stopped (or started again) meanwhile
  inFlight -= 1;
  show(answer, number, model);
  pump();
}

function show(answer, number, model) {
  if (!answer || typeof answer !== 'object') {
    failures += 1;
    if (failures >= FAILURES) { stop(); say(NO_ANSWER); } else { holdUntil = performance.now() + RETRY_MS; }
    return;
  }
  failures = 0;
  if (answer.state === 'error') { stop(); say(answer.message); return; }
  if (answer.retry_s) holdUntil = performance.now() + 1000 * answer.retry_s;
  if (number < newest) return;  // a newer answer is already shown
  newest = number;
  if (answer.picture) img.src = answer.picture;
  if (answer.line) say(answer.line);
  if (answer.near != null && answer.far != null) {
    const near = 'near ' + answer.near.toFixed(2) + ' m', far = 'far ' + answer.far.toFixed(2) + ' m';
    bar.querySelector('.live-near').textContent = near;
    bar.querySelector('.live-far').textContent = far;
    bar.setAttribute('aria-label', 'depth: ' + near + ' … ' + far);
    bar.hidden = false;
  }
  // The first picture, or the first from a newly chosen model: the tab names the model it came from.
  if (answer.picture && (answer.first || model !== modelShown)) { modelShown = model; trigger('stream_started'); }
}

function stop() {
  if (!running) return;
  running = false; run += 1; inFlight = 0;
  if (camera) camera.getTracks().forEach(track => track.stop());
  camera = null;
  video.srcObject = null;
  stopButton.hidden = true; startButton.hidden = false;
  Promise.resolve(server.live_stop({stream: streamId})).catch(() => {});
}

startButton.addEventListener('click', start);
stopButton.addEventListener('click', () => {
  const last = rate.textContent;
  stop();
  say(last + ' · stopped');
});
window.addEventListener('pagehide', stop);
"""
