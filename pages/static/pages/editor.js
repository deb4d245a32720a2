// The exercise page's code editor: CodeMirror over the form's <textarea>, which stays
// the form field (fromTextArea copies the code back on submit), so the page works
// without JavaScript too.
//
// Keyboard: Tab indents, as programmers expect. So that the editor is no keyboard trap,
// Esc lets the next Tab (or Shift+Tab) leave it, and Ctrl+M switches Tab between
// indenting and moving focus for as long as the student wants.
(function () {
  "use strict";
  var textarea = document.getElementById("code");
  if (!textarea || typeof CodeMirror === "undefined") {
    return;
  }
  var help = document.getElementById("editor-help");
  var status = document.getElementById("editor-status");
  var releaseOnce = false; // after Esc: the next Tab leaves
  var tabMoves = false; // after Ctrl+M: every Tab leaves, until Ctrl+M again

  function announce(text) {
    if (status) {
      status.textContent = text;
    }
  }

  function tabLeaves() {
    if (tabMoves || releaseOnce) {
      releaseOnce = false;
      return true;
    }
    return false;
  }

  var editor = CodeMirror.fromTextArea(textarea, {
    mode: "python",
    lineNumbers: true,
    indentUnit: 4,
    tabSize: 4,
    indentWithTabs: false,
    // Screen readers follow a contenteditable editor better than CodeMirror's hidden textarea.
    inputStyle: "contenteditable",
    screenReaderLabel: "Python code",
    extraKeys: {
      Tab: function (cm) {
        if (cm.somethingSelected()) {
          cm.indentSelection("add");
        } else {
          cm.replaceSelection("    ", "end");
        }
      },
      "Shift-Tab": function (cm) {
        cm.indentSelection("subtract");
      },
      Esc: function (cm) {
        cm.execCommand("singleSelection"); // what Esc does in CodeMirror otherwise
        releaseOnce = true;
        announce("Press Tab to leave the editor.");
      },
      "Ctrl-M": function () {
        tabMoves = !tabMoves;
        releaseOnce = false;
        announce(tabMoves ? "Tab now moves focus." : "Tab now indents.");
      },
    },
  });

  editor.on("keydown", function (cm, event) {
    if (event.key === "Tab") {
      if (tabLeaves()) {
        // CodeMirror leaves the key alone, and the browser moves focus on.
        event.codemirrorIgnore = true;
      }
    } else if (event.key !== "Escape" && event.key !== "Shift") {
      releaseOnce = false; // Esc releases only the very next key: typing on cancels it
    }
  });
  editor.on("blur", function () {
    releaseOnce = false;
  });

  var input = editor.getInputField();
  if (help) {
    help.hidden = false;
    input.setAttribute("aria-describedby", "editor-help");
  }
  if (textarea.getAttribute("aria-invalid") === "true") {
    input.setAttribute("aria-invalid", "true");
    input.setAttribute("aria-describedby", "submit-error editor-help");
  }
  // The <label for="code"> points at the hidden textarea now: send clicks to the editor.
  var label = document.querySelector('label[for="code"]');
  if (label) {
    label.addEventListener("click", function (event) {
      event.preventDefault();
      editor.focus();
    });
  }
})();
