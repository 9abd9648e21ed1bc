/* CranioScan slice navigator (Streamlit component, protocol API version 1).
 *
 * Listens in the page around it (same origin) for
 *   - Up/Left: previous slice, Down/Right: next slice, PageUp/PageDown: 10,
 *     Home/End: first/last (ignored while typing in a field, on a slider or
 *     with Ctrl/Alt/Meta held);
 *   - mouse wheel over any slice image ([data-testid="stImage"]): one slice
 *     per notch; the page does not scroll.
 * Every press and notch moves the local target at once (never dropped, also
 * at key-repeat rate). The server gets the ABSOLUTE target {index, seq},
 * one value in flight at a time: when the render acknowledging it arrives
 * (args.ack == seq sent) the newest target is sent if it moved meanwhile.
 * So presses that arrive during a rerun are coalesced, never lost. While
 * nothing is pending, the server's index wins (slider, buttons, chart).
 */
(function () {
  "use strict";
  var n = 1, target = 0, seq = 0, sentSeq = 0, ackSeq = 0, started = false;
  var resendTimer = null, wheelRest = 0, label = document.getElementById("nav");
  var host = window.parent;

  function post(type, data) {
    var msg = Object.assign({ isStreamlitMessage: true, type: type }, data || {});
    host.postMessage(msg, "*");
  }

  function clamp(i) { return Math.max(0, Math.min(n - 1, i)); }

  function draw() {
    label.innerHTML = "<b>Slice " + (target + 1) + " / " + n + "</b> · scroll over the image, " +
      "↑ ↓ ← →, PgUp / PgDn (10), Home / End";
    label.setAttribute("data-target", String(target + 1));
  }

  function send() {
    sentSeq = seq;
    post("streamlit:setComponentValue", { value: { index: target, seq: seq }, dataType: "json" });
    clearTimeout(resendTimer);
    // A rerun that never acknowledges (a dropped message): send the newest target again.
    resendTimer = setTimeout(function () { if (ackSeq < seq) { send(); } }, 2000);
  }

  function moveTo(index) {
    index = clamp(index);
    if (index === target) { return; }
    target = index;
    seq += 1;
    draw();
    if (sentSeq <= ackSeq) { send(); }  // else: sent when the value in flight is acknowledged
  }

  function onRender(args) {
    n = Math.max(1, args.n | 0);
    var ack = args.ack | 0;
    if (!started) {  // a (re)mounted frame continues the server's numbering
      seq = sentSeq = ackSeq = ack;
      started = true;
    }
    ackSeq = Math.max(ackSeq, ack);
    if (ackSeq >= seq) {
      target = clamp(args.index | 0);  // nothing pending: the server's slice is the truth
      clearTimeout(resendTimer);
    } else if (ackSeq >= sentSeq) {
      send();  // the value in flight was handled; the newest target still is not
    }
    draw();
  }

  var STEPS = { ArrowUp: -1, ArrowLeft: -1, ArrowDown: 1, ArrowRight: 1, PageUp: -10, PageDown: 10 };

  function typing(el) {
    if (!el || !el.closest) { return false; }
    return !!el.closest('input, textarea, select, [contenteditable="true"], [role="slider"], ' +
                        '[role="combobox"], [role="listbox"], [role="option"], [role="spinbutton"]');
  }

  function onKey(e) {
    if (e.defaultPrevented || e.ctrlKey || e.altKey || e.metaKey || typing(e.target)) { return; }
    if (e.key in STEPS) {
      moveTo(target + STEPS[e.key]);
    } else if (e.key === "Home") {
      moveTo(0);
    } else if (e.key === "End") {
      moveTo(n - 1);
    } else {
      return;
    }
    e.preventDefault();  // the page does not scroll
  }

  function onWheel(e) {
    if (!e.target || !e.target.closest || !e.target.closest('[data-testid="stImage"]')) { return; }
    e.preventDefault();
    var notch = e.deltaMode === 0 ? 100 : 1;  // pixels (Chrome: 100 per notch) or lines/pages
    if (Math.abs(e.deltaY) >= notch / 2) {
      wheelRest = 0;
      moveTo(target + (e.deltaY > 0 ? 1 : -1));
      return;
    }
    wheelRest += e.deltaY;  // a touchpad's small deltas add up to a notch
    if (Math.abs(wheelRest) >= notch / 2) {
      moveTo(target + (wheelRest > 0 ? 1 : -1));
      wheelRest = 0;
    }
  }

  // One navigator listens at a time: a new frame removes the previous one's listeners.
  var doc = null;
  try { doc = host.document; } catch (err) { doc = null; }  // not same-origin: own frame only
  function attach() {
    if (doc) {
      var previous = host.__cranioscanSliceNavDetach;
      if (typeof previous === "function") { try { previous(); } catch (err) { /* frame gone */ } }
      doc.addEventListener("keydown", onKey);
      doc.addEventListener("wheel", onWheel, { passive: false });
      host.__cranioscanSliceNavDetach = detach;
    }
    document.addEventListener("keydown", onKey);
  }
  function detach() {
    if (doc) {
      doc.removeEventListener("keydown", onKey);
      doc.removeEventListener("wheel", onWheel, { passive: false });
      if (host.__cranioscanSliceNavDetach === detach) { host.__cranioscanSliceNavDetach = undefined; }
    }
  }
  window.addEventListener("pagehide", detach);

  window.addEventListener("message", function (event) {
    var data = event.data;
    if (data && data.type === "streamlit:render") { onRender(data.args || {}); }
  });
  attach();
  draw();
  post("streamlit:componentReady", { apiVersion: 1 });
  post("streamlit:setFrameHeight", { height: 24 });
})();
