// While a submission waits for its grader, ask the REST API for its status (the session
// cookie signs the request in; GET only, so no CSRF token is needed) and say what
// changes in the page's aria-live region. Once it is graded, or the grader gave up, load
// the page again: the server renders the feedback, exactly as for a later visit.
(function () {
  "use strict";
  var region = document.getElementById("submission-status");
  if (!region || !region.dataset.pollUrl) {
    return;
  }
  var statusText = document.getElementById("status-text");
  var summary = document.getElementById("status-summary");
  var labels = {
    queued: "Waiting for a grader",
    running: "Running",
    graded: "Graded",
    error: "Grader error (does not count)",
  };
  var url = region.dataset.pollUrl;
  var last = region.dataset.status;
  var delay = 1000;
  var maxDelay = 5000;
  var deadline = Date.now() + 10 * 60 * 1000; // then the student reloads by hand

  function show(status, text) {
    if (statusText) {
      statusText.textContent = labels[status] || status;
    }
    if (summary) {
      summary.textContent = text;
    }
  }

  function finished(body) {
    show(body.status, body.summary + " Loading the feedback…");
    window.history.replaceState(null, "", window.location.pathname + "#result");
    window.location.reload();
  }

  function later() {
    if (Date.now() > deadline) {
      show(last, "Still waiting for the grader. Reload this page later to see the result.");
      return;
    }
    window.setTimeout(poll, delay);
    delay = Math.min(maxDelay, Math.round(delay * 1.5));
  }

  function poll() {
    fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (response) {
        if (response.status === 401 || response.status === 403 || response.status === 404) {
          show(last, "The status could not be read: you may have been signed out. Reload this page.");
          return null;
        }
        return response.ok ? response.json() : undefined;
      })
      .then(function (body) {
        if (body === null) {
          return;
        }
        if (body && (body.status === "graded" || body.status === "error")) {
          finished(body);
          return;
        }
        if (body && body.status !== last) {
          last = body.status;
          show(body.status, body.summary);
        }
        later();
      })
      .catch(later); // a network hiccup: try again a little later
  }

  window.setTimeout(poll, delay);
})();
