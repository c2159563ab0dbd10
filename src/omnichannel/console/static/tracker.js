/*
 * Omnichannel web tracker: Segment-spec page, track and identify calls to /v1/* of an
 * Omnichannel server, with a web source's write key as the Basic-auth user.
 *
 *   <script src="https://omni.example.com/console/static/tracker.js"
 *           data-write-key="wk_…" data-api="https://omni.example.com"></script>
 *   <script>omni.page(); omni.track("Product Added", {sku: "P-1"}); omni.identify("u1", {email: "a@b.c"});</script>
 *
 * The anonymousId lives in localStorage, so one browser stays one visitor across visits; after
 * identify() every call carries the userId too. Calls are sent at once, in order, with
 * keepalive so a call made just before navigating away still arrives. Each has its own
 * messageId, so a retried call is never counted twice.
 */
(function () {
  "use strict";
  var script = document.currentScript;
  var writeKey = script.getAttribute("data-write-key");
  var api = (script.getAttribute("data-api") || "").replace(/\/$/, "");
  var storage = window.localStorage;
  var ANON = "omni.anonymousId";
  var USER = "omni.userId";
  var LIBRARY = { name: "omni-tracker", version: "1.0.0" };

  function uuid() {
    if (window.crypto && crypto.randomUUID) return crypto.randomUUID();
    // Older browsers and insecure origins: a version-4 UUID from getRandomValues.
    var b = crypto.getRandomValues(new Uint8Array(16));
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    var h = Array.prototype.map.call(b, function (x) { return (x + 256).toString(16).slice(1); }).join("");
    return h.slice(0, 8) + "-" + h.slice(8, 12) + "-" + h.slice(12, 16) + "-" + h.slice(16, 20) + "-" + h.slice(20);
  }

  function anonymousId() {
    var id = storage.getItem(ANON);
    if (!id) {
      id = uuid();
      storage.setItem(ANON, id);
    }
    return id;
  }

  function context() {
    return {
      library: LIBRARY,
      page: {
        path: location.pathname,
        url: location.href,
        title: document.title,
        referrer: document.referrer,
        search: location.search,
      },
      userAgent: navigator.userAgent,
      locale: navigator.language,
    };
  }

  var queue = Promise.resolve();

  function send(type, fields) {
    var now = new Date().toISOString();
    var message = Object.assign(
      { type: type, messageId: uuid(), anonymousId: anonymousId(), timestamp: now, sentAt: now, context: context() },
      fields
    );
    var userId = storage.getItem(USER);
    if (userId && !message.userId) message.userId = userId;
    // One call after another keeps the server's receivedAt in the order the visitor acted.
    queue = queue.then(function () {
      return fetch(api + "/v1/" + type, {
        method: "POST",
        keepalive: true,
        headers: { "Content-Type": "application/json", Authorization: "Basic " + btoa(writeKey + ":") },
        body: JSON.stringify(message),
      }).then(function (response) {
        if (!response.ok) console.warn("omni: " + type + " refused", response.status);
        return response;
      }).catch(function (error) { console.warn("omni: " + type + " not sent", error); });
    });
    return queue;
  }

  window.omni = {
    page: function (name, properties) {
      return send("page", { name: name || document.title, properties: properties || {} });
    },
    track: function (event, properties) {
      return send("track", { event: event, properties: properties || {} });
    },
    identify: function (userId, traits) {
      if (userId) storage.setItem(USER, userId);
      return send("identify", { userId: userId || undefined, traits: traits || {} });
    },
    reset: function () {
      storage.removeItem(USER);
      storage.removeItem(ANON);
    },
    anonymousId: anonymousId,
    flush: function () { return queue; },
  };
})();
