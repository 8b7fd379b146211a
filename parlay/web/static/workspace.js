// The workspace stays current: the agent's live event stream (server-sent events) tells which
// parts changed, and htmx fetches them again from the server, which renders them. No state is
// kept here; each time the stream opens (they end every few minutes) everything is refreshed,
// so nothing missed while it was closed stays missed.
(function () {
  "use strict";
  var root = document.getElementById("workspace");
  if (!root || !window.EventSource) { return; }

  var EVENTS = [
    "conversation.assigned", "conversation.unassigned", "conversation.message",
    "conversation.transferred", "conversation.closed", "queue.added", "queue.removed",
    "agent.state"
  ];
  var dirtyPanels = false;
  var dirtyConversation = false;
  var timer = null;

  function openConversation() { return document.getElementById("conversation"); }

  // Each part is refreshed from its own element: htmx lets one request per element be in flight
  // and keeps only the latest one waiting, so parts sharing an element (htmx.ajax's default is
  // the body) would wait on each other, and a second panels refresh would replace a waiting
  // conversation refresh and lose it.
  function flush() {
    timer = null;
    if (dirtyPanels && !busy("panels")) {
      dirtyPanels = false;
      var panels = document.getElementById("panels");
      htmx.ajax("GET", root.dataset.panels, { source: panels, target: panels, swap: "innerHTML" });
    }
    var open = openConversation();
    // A conversation no longer the agent's (transferred away, closed out of reach) shows why it
    // left; a refresh would only replace that with "no longer yours to see".
    if (!open || open.querySelector("[data-gone]")) {
      dirtyConversation = false;
    } else if (dirtyConversation && !busy("conversation")) {
      dirtyConversation = false;
      htmx.ajax("GET", open.dataset.url, { source: open, target: open, swap: "innerHTML" });
    }
  }

  // Several events of one change arrive together: one refresh for all of them.
  function changed(conversationId) {
    dirtyPanels = true;
    var open = openConversation();
    if (open && (!conversationId || open.dataset.id === conversationId)) {
      dirtyConversation = true;
    }
    if (timer === null) { timer = window.setTimeout(flush, 50); }
  }

  var stream = new EventSource(root.dataset.events);
  stream.addEventListener("open", function () {
    // Whatever changed between rendering the page (or the stream's last end) and now: the
    // stream hears everything after it opened, so one refresh here leaves nothing missed.
    changed(null);
    root.dataset.live = "true";
  });
  EVENTS.forEach(function (type) {
    stream.addEventListener(type, function (event) {
      var data = {};
      try { data = JSON.parse(event.data); } catch (e) { data = {}; }
      changed(data.conversationId || null);
    });
  });

  // A refresh must never show an older state than an action's answer: a refresh is not sent
  // while an action on the same part is under way (it follows the action instead), and one sent
  // before an action is dropped when it comes back after it.
  var sequence = 0;
  var writing = {};    // part id -> actions under way
  var lastWrite = {};  // part id -> sequence of the latest action sent
  function busy(target) { return (writing[target] || 0) > 0; }
  document.body.addEventListener("htmx:beforeRequest", function (event) {
    var target = event.detail.target && event.detail.target.id;
    if (!target) { return; }
    sequence += 1;
    var write = event.detail.requestConfig.verb !== "get";
    event.detail.xhr.parlay = { sequence: sequence, target: target, write: write };
    if (write) {
      writing[target] = (writing[target] || 0) + 1;
      lastWrite[target] = sequence;
    }
  });
  document.body.addEventListener("htmx:beforeSwap", function (event) {
    var sent = event.detail.xhr.parlay;
    if (sent && !sent.write && sent.sequence < (lastWrite[sent.target] || 0)) {
      event.detail.shouldSwap = false;
      changed(null);  // fetch it again, after the action
    }
  });
  document.body.addEventListener("htmx:afterRequest", function (event) {
    var sent = event.detail.xhr.parlay;
    if (sent && sent.write) {
      writing[sent.target] -= 1;
      if ((dirtyPanels || dirtyConversation) && timer === null) {
        timer = window.setTimeout(flush, 50);
      }
    }
  });

  // A refresh must not lose what the agent is typing.
  var draft = null;
  document.body.addEventListener("htmx:beforeSwap", function (event) {
    if (!event.detail.shouldSwap) { draft = null; return; }
    var box = document.getElementById("reply-text");
    var replying = event.detail.requestConfig && event.detail.requestConfig.verb === "post" &&
      /\/messages$/.test(event.detail.requestConfig.path || "");
    draft = box && !(replying && event.detail.xhr.status < 400) ?
      { text: box.value, focused: document.activeElement === box } : null;
  });
  document.body.addEventListener("htmx:afterSwap", function () {
    var box = document.getElementById("reply-text");
    if (box && draft) {
      box.value = draft.text;
      if (draft.focused) { box.focus(); }
    }
    draft = null;
  });
})();
