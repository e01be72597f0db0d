// A short beep and a buzz when a code is read, so a clerk knows without looking at the screen.
// Browsers only let a page make sound after a user gesture: call primeFeedback() from the click
// that starts a scan, and signalRead() may then sound later, when the read happens.

const BEEP_HZ = 1760;
const BEEP_SECONDS = 0.12;
const VIBRATE_MS = 80;

let audio = null;

function audioContext() {
  const AudioContextClass = globalThis.AudioContext ?? globalThis.webkitAudioContext;
  if (!AudioContextClass) return null;
  audio ??= new AudioContextClass();
  return audio;
}

// Create (or wake) the audio context while the page still holds the user's gesture.
export function primeFeedback() {
  try {
    const context = audioContext();
    if (context?.state === "suspended") context.resume().catch(() => {});
  } catch {
    // No sound is no reason to refuse a scan.
  }
}

export function beep() {
  try {
    const context = audioContext();
    if (!context) return;
    if (context.state === "suspended") context.resume().catch(() => {});
    const start = context.currentTime;
    const oscillator = context.createOscillator();
    const gain = context.createGain();
    oscillator.type = "sine";
    oscillator.frequency.value = BEEP_HZ;
    // A quick fade in and out: a bare square edge clicks.
    gain.gain.setValueAtTime(0.0001, start);
    gain.gain.exponentialRampToValueAtTime(0.3, start + 0.01);
    gain.gain.exponentialRampToValueAtTime(0.0001, start + BEEP_SECONDS);
    oscillator.connect(gain).connect(context.destination);
    oscillator.start(start);
    oscillator.stop(start + BEEP_SECONDS);
  } catch {
    // As above: feedback is a courtesy.
  }
}

export function signalRead() {
  beep();
  try {
    navigator.vibrate?.(VIBRATE_MS);
  } catch {
    // Some browsers throw instead of ignoring vibrate() without a gesture.
  }
}
