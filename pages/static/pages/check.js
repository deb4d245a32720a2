// "Check my work" in place: send the form's code (or chosen notebook) to the REST API's
// checks endpoint, poll the check run, and show the visible checks' verdict below the
// forms, labelled "not graded". The session cookie signs the requests in; the POST
// carries the form's CSRF token. Without JavaScript the same buttons post the form to a
// page of its own (their formaction), so this is an enhancement only.
(function () {
  "use strict";
  var panel = document.getElementById("check-panel");
  var buttons = document.querySelectorAll("button[data-check-url]");
  if (!panel || !buttons.length || !window.fetch || !window.FormData) {
    return;
  }
  var heading = document.getElementById("check-heading");
  var statusLine = document.getElementById("check-status");
  var table = document.getElementById("check-table");
  var output = document.getElementById("check-output");
  var busy = false;

  function say(text) {
    statusLine.textContent = text;
  }

  // A message's `name` as <code>name</code>, everything as text (never as HTML).
  function withCodeSpans(cell, text) {
    var parts = String(text).split("`");
    parts.forEach(function (part, index) {
      if (index % 2 === 1 && index < parts.length - 1) {
        var code = document.createElement("code");
        code.textContent = part;
        cell.appendChild(code);
      } else {
        cell.appendChild(document.createTextNode(index % 2 === 1 ? "`" + part : part));
      }
    });
  }

  function reset() {
    panel.hidden = false;
    table.hidden = true;
    table.tBodies[0].textContent = "";
    output.hidden = true;
  }

  function show(run) {
    statusLine.textContent = "";
    withCodeSpans(statusLine, run.summary);
    var body = table.tBodies[0];
    body.textContent = "";
    run.checks.forEach(function (check) {
      var row = body.insertRow();
      row.className = check.passed ? "correct" : "incorrect";
      var name = document.createElement("th");
      name.scope = "row";
      name.textContent = check.name;
      row.appendChild(name);
      row.insertCell().textContent = check.passed ? "Yes" : "No";
      withCodeSpans(row.insertCell(), check.message);
    });
    table.hidden = run.checks.length === 0;
    output.hidden = !run.output;
    output.querySelector("pre").textContent = run.output || "";
  }

  function poll(url, delay, deadline) {
    if (Date.now() > deadline) {
      say("Still waiting for a grader. Try again in a moment.");
      busy = false;
      return;
    }
    window.setTimeout(function () {
      fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
        .then(function (response) {
          return response.ok ? response.json() : null;
        })
        .then(function (run) {
          if (!run) {
            say("The check could not be read: you may have been signed out. Reload the page.");
            busy = false;
          } else if (run.status === "done" || run.status === "error") {
            show(run);
            busy = false;
          } else {
            say(run.summary);
            poll(url, Math.min(3000, Math.round(delay * 1.5)), deadline);
          }
        })
        .catch(function () {
          poll(url, Math.min(3000, Math.round(delay * 1.5)), deadline);
        });
    }, delay);
  }

  function request(form) {
    var headers = { Accept: "application/json", "X-CSRFToken": form.elements.csrfmiddlewaretoken.value };
    var file = form.querySelector("input[type=file]");
    if (file) {
      var data = new FormData();
      data.append("file", file.files[0]);
      return { method: "POST", credentials: "same-origin", headers: headers, body: data };
    }
    var editor = form.querySelector(".CodeMirror");
    if (editor && editor.CodeMirror) {
      editor.CodeMirror.save(); // the editor's text into its <textarea>
    }
    headers["Content-Type"] = "application/json";
    var code = form.elements.code.value;
    return { method: "POST", credentials: "same-origin", headers: headers, body: JSON.stringify({ code: code }) };
  }

  Array.prototype.forEach.call(buttons, function (button) {
    button.addEventListener("click", function (event) {
      var form = button.form;
      var file = form.querySelector("input[type=file]");
      if (file && !file.files.length) {
        return; // the browser says a file is required
      }
      event.preventDefault();
      if (busy) {
        return;
      }
      busy = true;
      reset();
      say("Running the visible checks…");
      heading.focus();
      fetch(button.dataset.checkUrl, request(form))
        .then(function (response) {
          return response.json().then(function (body) {
            return { status: response.status, body: body };
          });
        })
        .then(function (answer) {
          if (answer.status === 202) {
            poll(answer.body.url, 700, Date.now() + 5 * 60 * 1000);
          } else {
            say(answer.body.detail || "The check could not be started.");
            busy = false;
          }
        })
        .catch(function () {
          say("The check could not be started: the server did not answer. Try again.");
          busy = false;
        });
    });
  });
})();
