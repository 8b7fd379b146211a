// The workspace stays current: the agent's live event stream (server-sent events) tells which
// parts changed, and htmx fetches them again from the server, which renders them. No state is
// kept here; a reconnected stream (they end every few minutes) refreshes everything, so nothing
// missed while it was closed stays missed.
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

  function flush() {
    timer = null;
    if (dirtyPanels) {
      htmx.ajax("GET", root.dataset.panels, { target: "#panels", swap: "innerHTML" });
    }
    var open = openConversation();
    if (dirtyConversation && open) {
      htmx.ajax("GET", open.dataset.url, { target: "#conversation", swap: "innerHTML" });
    }
    dirtyPanels = dirtyConversation = false;
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
  var opened = false;
  stream.addEventListener("open", function () {
    if (opened) { changed(null); }  // a reconnection: catch up
    opened = true;
    root.dataset.live = "true";
  });
  EVENTS.forEach(function (type) {
    stream.addEventListener(type, function (event) {
      var data = {};
      try { data = JSON.parse(event.data); } catch (e) { data = {}; }
      changed(data.conversationId || null);
    });
  });

  // A refresh must not lose what the agent is typing.
  var draft = null;
  document.body.addEventListener("htmx:beforeSwap", function (event) {
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
