// The demo phone: what a brand's app does with Parlay's consumer API, in a browser tab.
// Sign in (the demo's identity provider signs a consumer JWT), register this tab as a device,
// receive pushes (the demo app's push proxy hands them to this page), report them received,
// tap one (read) and chat: the consumer writes, and the agent's answers arrive on the
// consumer's live stream.
(function () {
  "use strict";
  var root = document.getElementById("phone");
  if (!root) { return; }
  var account = root.dataset.account;
  var api = "/api/account/" + encodeURIComponent(account) + "/consumer";
  var me = null;           // {consumerId, jwt, pushToken, appId, deviceId}
  var seen = {};           // pushes shown, by id
  var lastOutbound = null; // the text of the notification tapped last
  var tappedSince = false; // a notification was tapped since the consumer last wrote

  function $(id) { return document.getElementById(id); }
  function status(text) { $("phone-status").textContent = text; }

  function call(method, path, body) {
    var init = { method: method, headers: { "Authorization": "Bearer " + me.jwt } };
    if (body !== undefined) {
      init.headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    return fetch(api + path, init);
  }

  // --- signing in and registering ------------------------------------------------------------

  $("phone-sign-in").addEventListener("submit", function (event) {
    event.preventDefault();
    var form = new FormData(event.target);
    fetch("/demo/phone/sign-in", { method: "POST", body: new URLSearchParams(form) })
      .then(function (r) { if (!r.ok) { throw new Error("sign-in " + r.status); } return r.json(); })
      .then(function (session) {
        me = session;
        me.deviceId = "demo-phone-" + session.pushToken.slice(0, 12);
        return call("PUT", "/devices/" + encodeURIComponent(me.deviceId), {
          appId: me.appId, platform: "ios", pushService: "proxy", pushToken: me.pushToken,
          osVersion: "18.2", deviceModel: "Demo phone", sdkVersion: "demo-1",
          country: "US", city: "San Francisco"
        });
      })
      .then(function (r) {
        if (!r.ok) { throw new Error("registering the device: " + r.status); }
        $("phone-sign-in").hidden = true;
        $("phone-app").hidden = false;
        root.dataset.consumer = me.consumerId;
        status("Signed in as " + me.consumerId + " · device " + me.deviceId + " registered");
        listenForPushes();
        listenToConversation();
        return loadConversation(false);
      })
      .catch(function (e) { status("Could not sign in: " + e.message); $("phone-app").hidden = false; });
  });

  // --- pushes ---------------------------------------------------------------------------------

  function listenForPushes() {
    var url = "/demo/phone/push-events?token=" + encodeURIComponent(me.pushToken);
    var stream = new EventSource(url);
    stream.addEventListener("push", function (e) { show(JSON.parse(e.data)); });
    stream.addEventListener("open", function () {
      root.dataset.pushes = "listening";
      // Whatever arrived while the stream was closed.
      fetch("/demo/phone/pushes?token=" + encodeURIComponent(me.pushToken))
        .then(function (r) { return r.json(); })
        .then(function (list) { list.forEach(show); });
    });
  }

  function show(push) {
    var id = push.pushMessageId || (push.backendService + ":" + push.receivedAt);
    if (seen[id]) { return; }
    seen[id] = true;
    var outbound = push.backendService !== "ams";
    if (outbound && push.pushMessageId) {
      call("POST", "/push/" + encodeURIComponent(push.pushMessageId) + "/received");
    }
    $("no-notifications").hidden = true;
    var item = document.createElement("li");
    var button = document.createElement("button");
    button.type = "button";
    button.className = "notification";
    var title = document.createElement("strong");
    title.textContent = push.title || "Demo brand";
    var body = document.createElement("span");
    body.textContent = push.body;
    button.appendChild(title);
    button.appendChild(body);
    button.addEventListener("click", function () {
      button.classList.add("read");
      lastOutbound = outbound ? push.body : lastOutbound;
      tappedSince = outbound;
      var tapped = outbound && push.pushMessageId ?
        call("POST", "/push/" + encodeURIComponent(push.pushMessageId) + "/tapped") :
        Promise.resolve(null);
      tapped.then(function () { return loadConversation(true); });
    });
    item.appendChild(button);
    $("notifications").insertBefore(item, $("notifications").firstChild);
  }

  // --- the conversation -----------------------------------------------------------------------

  function bubble(text, kind) {
    var li = document.createElement("li");
    li.className = kind;
    li.textContent = text;
    return li;
  }

  function loadConversation(open) {
    return call("GET", "/conversation").then(function (r) {
      var list = $("chat-messages");
      if (r.status === 404) {
        if (!open) { return; }
        list.replaceChildren();
        if (lastOutbound) { list.appendChild(bubble(lastOutbound, "theirs")); }
        $("chat").hidden = false;
        return;
      }
      return r.json().then(function (c) {
        if (!open && $("chat").hidden && c.state !== "OPEN") { return; }
        list.replaceChildren();
        // A closed conversation and a new message tapped since: the chat starts afresh.
        if (c.state !== "OPEN" && tappedSince && lastOutbound) {
          list.appendChild(bubble(lastOutbound, "theirs"));
        } else {
          c.messages.forEach(function (m) {
            var kind = m.sender === "consumer" ? "mine" : m.sender === "system" ? "note" : "theirs";
            list.appendChild(bubble(m.text, kind));
          });
          if (c.state !== "OPEN") { list.appendChild(bubble("Conversation closed", "note")); }
        }
        root.dataset.conversation = c.state === "OPEN" ? c.conversationId : "";
        $("chat").hidden = false;
        list.scrollTop = list.scrollHeight;
      });
    });
  }

  $("chat-form").addEventListener("submit", function (event) {
    event.preventDefault();
    var box = $("chat-text");
    $("chat-error").textContent = "";
    call("POST", "/messages", { text: box.value, deviceId: me.deviceId }).then(function (r) {
      if (!r.ok) {
        return r.json().then(function (p) { $("chat-error").textContent = p.detail || p.title; });
      }
      box.value = "";
      tappedSince = false;
      return loadConversation(true);
    });
  });

  // The consumer's live stream: an EventSource cannot send the JWT, so it is read with fetch.
  function listenToConversation() {
    var url = api + "/events?deviceId=" + encodeURIComponent(me.deviceId);
    fetch(url, { headers: { "Authorization": "Bearer " + me.jwt, "Accept": "text/event-stream" } })
      .then(function (r) {
        if (!r.ok || !r.body) { throw new Error("stream " + r.status); }
        root.dataset.live = "true";
        loadConversation(false);  // whatever happened while the stream was closed
        var reader = r.body.getReader();
        var decoder = new TextDecoder();
        var buffer = "";
        function pump() {
          return reader.read().then(function (chunk) {
            if (chunk.done) { return; }
            buffer += decoder.decode(chunk.value, { stream: true });
            var parts = buffer.split("\n\n");
            buffer = parts.pop();
            parts.forEach(function (part) {
              if (/^event: (message|conversation\.closed)/m.test(part)) { loadConversation(false); }
            });
            return pump();
          });
        }
        return pump();
      })
      .catch(function () { return null; })
      .then(function () { window.setTimeout(listenToConversation, 500); });  // streams end: reconnect
  }
})();
