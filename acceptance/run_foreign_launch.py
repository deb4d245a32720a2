"""Acceptance: a launch from an LMS that is not the in-repo test platform lands a student
on the quiz, and the score arrives at that LMS exactly once (acceptance/README.md).

Run with `make acceptance` (or `.venv/bin/python acceptance/run_foreign_launch.py`):
1. starts the tool with `make run` (its own process group, its own GRADER_VAR_DIR, so
   a fresh database and broker, migrated and seeded as `make run` does);
2. starts the foreign LMS (acceptance/foreign_platform/lms.py, on lti1p3platform, in
   its own venv) on http://localhost, while the tool is http://127.0.0.1: cross-site;
3. registers the LMS with `manage.py lti_register_platform` and nothing else, and gives
   the LMS the tool URLs that command printed;
4. drives Debian's Chromium as a student: the LMS course page, the link (the tool
   opens in the course page's iframe), the quiz, start, answer, submit, the score;
5. waits for the score at the LMS and checks it arrived once, with the right figures.
Prints PASS or FAIL with the figures; exits 0 only on PASS. Everything is kept under
var/acceptance/<run>/ (logs, the LMS's records, a screenshot on failure).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import ExitStack, closing, contextmanager, suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from playwright.sync_api import BrowserContext, Frame, Page, sync_playwright
from playwright.sync_api import TimeoutError as PlaywrightTimeout

ROOT = Path(__file__).resolve().parent.parent
PLATFORM_DIR = ROOT / "acceptance" / "foreign_platform"
PYTHON = ROOT / ".venv" / "bin" / "python"
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
COURSE_ID, LINK_TITLE = "ml101", "Week 3 quiz"  # as acceptance/foreign_platform/lms.py has them
STUDENT = "ada"
AGS_CLAIM = "https://purl.imsglobal.org/spec/lti-ags/claim/endpoint"
PREFERRED_QUIZ = "loss-functions-vs-metrics"


@dataclass
class Check:
    name: str
    ok: bool
    detail: str = ""


@dataclass
class Report:
    checks: list[Check] = field(default_factory=list)
    figures: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def check(self, name: str, ok: bool, detail: str = "") -> bool:
        self.checks.append(Check(name, ok, detail))
        print(f"  [{'ok' if ok else 'FAILED'}] {name}{': ' + detail if detail else ''}", flush=True)
        return ok

    @property
    def passed(self) -> bool:
        return bool(self.checks) and all(check.ok for check in self.checks)


class Stop(Exception):
    """A step failed in a way that makes the later steps meaningless."""


# --- processes ------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for(what: str, probe: Callable[[], bool], *, timeout: float, alive: Callable[[], bool]) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if probe():
            return
        if not alive():
            raise Stop(f"{what}: the process exited")
        time.sleep(0.25)
    raise Stop(f"{what}: not ready after {timeout:.0f} s")


def http_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310 (our own local URLs)
            return bool(200 <= response.status < 300)
    except (urllib.error.URLError, OSError):
        return False


def get_json(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=5) as response:  # noqa: S310 (our own local URLs)
        return json.load(response)


def tail(path: Path, lines: int = 25) -> str:
    text = path.read_text(errors="replace").splitlines() if path.exists() else []
    return "\n".join("      " + line for line in text[-lines:])


@contextmanager
def tool_running(*, port: int, env: dict[str, str], log: Path) -> Iterator[subprocess.Popen[bytes]]:
    """`make run` on `port`, in its own process group; stopped (with its worker) at the end."""
    with log.open("wb") as out:
        process = subprocess.Popen(  # noqa: S603
            ["make", "--no-print-directory", "run", f"PORT={port}", "HOST=127.0.0.1"],  # noqa: S607
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        yield process
    finally:
        _stop_tool(process, log)


def _stop_tool(process: subprocess.Popen[bytes], log: Path) -> None:
    # run-dev.sh starts the worker in a session of its own and stops it (TERM, then a
    # wait) on exit: TERM our group, then wait for that worker pid to be gone.
    match = re.search(r"worker pid (\d+)", log.read_text(errors="replace")) if log.exists() else None
    with suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        with suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=5)
    if match:
        worker = int(match.group(1))
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and _alive(worker):
            time.sleep(0.25)
        if _alive(worker):
            with suppress(ProcessLookupError):
                os.killpg(worker, signal.SIGKILL)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@contextmanager
def lms_running(*, port: int, data_dir: Path, log: Path) -> Iterator[subprocess.Popen[bytes]]:
    python = platform_python()
    with log.open("wb") as out:
        process = subprocess.Popen(  # noqa: S603
            [
                str(python),
                str(PLATFORM_DIR / "lms.py"),
                *("--host", "localhost", "--port", str(port)),
                "--data-dir",
                str(data_dir),
            ],
            cwd=PLATFORM_DIR,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        yield process
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)


def platform_python() -> Path:
    """The foreign LMS's own venv, made (or remade when its requirements change)."""
    venv = PLATFORM_DIR / ".venv"
    requirements = PLATFORM_DIR / "requirements.txt"
    stamp = venv / ".installed"
    digest = hashlib.sha256(requirements.read_bytes()).hexdigest()
    if not stamp.exists() or stamp.read_text() != digest:
        print(f"  making the foreign LMS's venv ({venv.relative_to(ROOT)})", flush=True)
        subprocess.run([sys.executable, "-m", "venv", "--clear", str(venv)], check=True)  # noqa: S603
        pip = [str(venv / "bin" / "pip"), "install", "--quiet", "--disable-pip-version-check"]
        subprocess.run([*pip, "-r", str(requirements)], check=True)  # noqa: S603
        stamp.write_text(digest)
    return venv / "bin" / "python"


def manage(*args: str, env: dict[str, str]) -> str:
    result = subprocess.run(  # noqa: S603
        [str(PYTHON), "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    if result.returncode != 0:
        raise Stop(f"manage.py {args[0]} failed ({result.returncode}):\n{result.stdout}{result.stderr}")
    return result.stdout


# --- the steps ------------------------------------------------------------------------


def register(*, lms_url: str, env: dict[str, str], report: Report, tool_url: str) -> dict[str, str]:
    """`manage.py lti_register_platform` with the LMS's values; the tool URLs it printed."""
    values = get_json(lms_url + "/registration")
    output = manage(
        "lti_register_platform",
        *("--issuer", values["issuer"], "--client-id", values["client_id"]),
        *("--deployment-id", values["deployment_id"], "--auth-login-url", values["auth_login_url"]),
        *("--auth-token-url", values["auth_token_url"], "--keyset-url", values["keyset_url"]),
        *("--name", "Foreign LMS (lti1p3platform)"),
        env=env,
    )
    print("    " + output.strip().replace("\n", "\n    "), flush=True)
    printed = dict(re.findall(r"^\s+(.+?):\s+(https?://\S+)\s*$", output, flags=re.MULTILINE))
    urls = {
        "login": next((url for label, url in printed.items() if "login" in label.lower()), ""),
        "launch": next(
            (url for label, url in printed.items() if re.search(r"launch|redirect", label, re.IGNORECASE)), ""
        ),
        "keyset": next((url for label, url in printed.items() if "key" in label.lower()), ""),
    }
    missing = [name for name, url in urls.items() if not url]
    report.check(
        "the registration prints the login, launch and key set URLs",
        not missing,
        f"missing: {', '.join(missing)}" if missing else ", ".join(f"{k}={v}" for k, v in urls.items()),
    )
    if missing:
        # Go on with the tool's routes, to see whether the rest works; the run fails anyway.
        fallback = {"login": "/lti/login/", "launch": "/lti/launch/", "keyset": "/lti/jwks/"}
        for name in missing:
            urls[name] = tool_url + fallback[name]
        report.notes.append(f"not printed by lti_register_platform, taken from the tool's routes: {missing}")
    return urls


def pick_quiz(*, env: dict[str, str], wanted: str) -> dict[str, Any]:
    """A published quiz of the seeded bank, as a student's catalogue lists it."""
    code = (
        "import json\n"
        "from django.contrib.auth.models import AnonymousUser\n"
        "from questions.selectors import quiz_list_visible\n"
        "print(json.dumps([{'slug': q.slug, 'title': q.title} for q in quiz_list_visible(user=AnonymousUser())]))"
    )
    quizzes: list[dict[str, Any]] = json.loads(manage("shell", "-c", code, env=env).strip().splitlines()[-1])
    if not quizzes:
        raise Stop("the seeded bank has no published quiz")
    return next((quiz for quiz in quizzes if quiz["slug"] == wanted), quizzes[0])


def configure_lms(*, lms_url: str, urls: dict[str, str], quiz_slug: str) -> None:
    """What an LMS admin types into the LMS's external tool form."""
    form = {
        "login_url": urls["login"],
        "launch_url": urls["launch"],
        "keyset_url": urls["keyset"],
        "custom": f"resource=quiz:{quiz_slug}",
    }
    request = urllib.request.Request(lms_url + "/admin/tool", data=urllib.parse.urlencode(form).encode())  # noqa: S310

    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args: Any, **kwargs: Any) -> None:
            return None

    try:
        urllib.request.build_opener(NoRedirect).open(request, timeout=5)
    except urllib.error.HTTPError as exc:
        if exc.code != 302:
            raise Stop(f"the LMS's tool form answered {exc.code}") from exc


def records(data_dir: Path, kind: str) -> list[dict[str, Any]]:
    path = data_dir / f"{kind}.jsonl"
    if not path.exists():
        return []
    # Complete lines only: the LMS may be writing the last one.
    return [json.loads(line) for line in path.read_text().split("\n")[:-1] if line.strip()]


def browser(playwright: Any, profile: Path) -> BrowserContext:
    """Chromium with a profile that allows third-party cookies (Chrome's everyday default;
    Playwright's own contexts block them, as private windows do)."""
    (profile / "Default").mkdir(parents=True, exist_ok=True)
    preferences = {"profile": {"cookie_controls_mode": 0, "block_third_party_cookies": False}}
    (profile / "Default" / "Preferences").write_text(json.dumps(preferences))
    context: BrowserContext = playwright.chromium.launch_persistent_context(
        str(profile), executable_path=CHROMIUM, headless=True
    )
    context.set_default_timeout(20_000)
    return context


@dataclass
class Landing:
    frame: Frame
    launch_status: int | None
    launch_location: str


def launch_from_course(
    *, page: Page, lms_url: str, launch_url: str, quiz_path: str, report: Report, run_dir: Path
) -> Landing:
    """Course page -> the link -> (tool login, LMS auth, launch) -> the quiz page, in the iframe."""
    launches: list[tuple[int, str]] = []

    def on_response(response: Any) -> None:
        if response.url == launch_url and response.request.method == "POST":
            launches.append((response.status, response.headers.get("location", "")))

    page.on("response", on_response)
    page.goto(f"{lms_url}/courses/{COURSE_ID}?as={STUDENT}")
    frame = page.frame(name="tool")
    if frame is None:
        raise Stop("the LMS course page has no tool iframe")
    started = time.monotonic()
    page.get_by_role("link", name=LINK_TITLE).click()
    landed = True
    try:
        frame.wait_for_url(re.compile(r"^http://127\.0\.0\.1:\d+" + re.escape(quiz_path) + r"(\?.*)?$"))
        frame.wait_for_load_state("domcontentloaded")
    except PlaywrightTimeout:
        landed = False
    elapsed = time.monotonic() - started
    status, location = launches[-1] if launches else (None, "")
    report.check(
        "the tool accepts the LMS's launch (POST /lti/launch/ -> 302 to the quiz)",
        status == 302 and urllib.parse.urlsplit(location).path == quiz_path,
        f"answered {status} {location}".strip() if status else "no launch POST seen",
    )
    report.check("the student lands on the quiz page in the LMS's iframe", landed, f"frame at {frame.url}")
    if not landed:
        page.screenshot(path=str(run_dir / "launch-failure.png"), full_page=True)
        body = frame.locator("body").inner_text(timeout=2_000) if frame.url.startswith("http") else ""
        raise Stop(f"no quiz page; the frame shows: {body[:600]!r}")
    report.figures["course link click -> quiz page"] = f"{elapsed:.2f} s"
    return Landing(frame=frame, launch_status=status, launch_location=location)


def take_quiz(*, frame: Frame, report: Report, run_dir: Path, page: Page) -> tuple[float, str]:
    """Start an attempt, answer every question, submit; the time of the submit click and
    the score the page shows. Selected by role and label, as a student sees the page."""
    frame.get_by_role("button", name=re.compile(r"^\s*Start", re.IGNORECASE)).click()
    submit = frame.get_by_role("button", name=re.compile(r"^\s*Submit", re.IGNORECASE))
    submit.wait_for()
    answered = answer_everything(frame)
    report.figures["questions answered"] = str(answered)
    page.once("dialog", lambda dialog: dialog.accept())  # a "submit now?" confirmation, if any
    submitted_at = time.time()
    submit.click()
    shown = ""
    try:
        score = frame.get_by_text(re.compile(r"^\s*Score:\s*[\d.]+\s*/\s*[\d.]+"))
        score.first.wait_for()
        shown = score.first.inner_text().strip()
    except PlaywrightTimeout:
        page.screenshot(path=str(run_dir / "submit-failure.png"), full_page=True)
    report.check("the student sees the score after submitting", bool(shown), shown[:200])
    return submitted_at, shown


def answer_everything(frame: Frame) -> int:
    """The first choice of every single-choice question, the first box of every
    multiple-choice one, and 0.5 in every free-text (numeric) field."""
    answered = 0
    for group in frame.get_by_role("radiogroup").all() or frame.locator("fieldset").all():
        radios = group.get_by_role("radio")
        if radios.count():
            radios.first.check()
            answered += 1
            continue
        boxes = group.get_by_role("checkbox")
        if boxes.count():
            boxes.first.check()
            answered += 1
            continue
        fields = group.get_by_role("textbox").or_(group.get_by_role("spinbutton"))
        if fields.count():
            fields.first.fill("0.5")
            answered += 1
    return answered


def tool_attempt(*, env: dict[str, str], sub: str, quiz_slug: str) -> dict[str, Any]:
    """The tool's own record of the student's attempt and its passbacks."""
    code = (
        "import json\n"
        "from grader.models import Attempt\n"
        "from lti.models import Passback\n"
        f"a = Attempt.objects.filter(user__lti_identity__sub={sub!r}, quiz__slug={quiz_slug!r})"
        ".order_by('-id').first()\n"
        "p = list(Passback.objects.filter(attempt=a).values('state', 'tries', 'last_error')) if a else []\n"
        "print(json.dumps(a and {'score': float(a.score) if a.score is not None else None,"
        " 'max_score': float(a.max_score), 'state': a.state, 'passbacks': p}))"
    )
    result: dict[str, Any] = json.loads(manage("shell", "-c", code, env=env).strip().splitlines()[-1]) or {}
    return result


def score_arrival(
    *, data_dir: Path, sub: str, submitted_at: float, timeout: float, grace: float
) -> tuple[list[dict[str, Any]], float | None]:
    """Score posts for `sub` until one arrives (or `timeout`), then `grace` more seconds
    to see any duplicate; and the seconds from the submit click to the first one."""
    deadline = time.monotonic() + timeout
    first: float | None = None
    while time.monotonic() < deadline:
        posts = [r for r in records(data_dir, "scores") if (r.get("score") or {}).get("userId") == sub]
        if any("scoreGiven" in (r.get("score") or {}) for r in posts) and first is None:
            first = min(
                datetime.fromisoformat(r["at"]).timestamp() for r in posts if "scoreGiven" in (r["score"] or {})
            )
            deadline = min(deadline, time.monotonic() + grace)
        time.sleep(0.2)
    posts = [r for r in records(data_dir, "scores") if (r.get("score") or {}).get("userId") == sub]
    return posts, (first - submitted_at) if first is not None else None


def check_score(
    *, report: Report, posts: list[dict[str, Any]], attempt: dict[str, Any], lineitem: str, seconds: float | None
) -> None:
    sent = [p for p in attempt.get("passbacks", []) if p["state"] == "sent"]
    report.check(
        "the tool records one passback for the attempt, sent",
        len(attempt.get("passbacks", [])) == 1 and len(sent) == 1,
        json.dumps(attempt.get("passbacks")),
    )
    graded = [p for p in posts if "scoreGiven" in (p.get("score") or {})]
    report.check(
        "the score arrives at the LMS exactly once",
        len(graded) == 1,
        f"{len(graded)} score posts"
        + (f" (and {len(posts) - len(graded)} without scoreGiven)" if len(posts) > len(graded) else ""),
    )
    if not graded:
        return
    post = graded[0]
    score = post["score"]
    report.check(
        "the LMS accepted and applied it", post["status"] == 200 and post["applied"], f"status {post['status']}"
    )
    report.check("to the link's line item", post["lineitem"] == lineitem, post["lineitem"])
    report.check(
        "scoreGiven / scoreMaximum are the attempt's",
        attempt.get("score") is not None
        and abs(float(score["scoreGiven"]) - attempt["score"]) < 1e-6
        and abs(float(score["scoreMaximum"]) - attempt["max_score"]) < 1e-6,
        f"sent {score['scoreGiven']} / {score['scoreMaximum']}, tool has {attempt.get('score')} / "
        f"{attempt.get('max_score')}",
    )
    report.check(
        "activityProgress says the quiz was submitted",
        score.get("activityProgress") in ("Submitted", "Completed"),
        str(score.get("activityProgress")),
    )
    report.check(
        "gradingProgress is FullyGraded",
        score.get("gradingProgress") == "FullyGraded",
        str(score.get("gradingProgress")),
    )
    report.check(
        "the post has the score media type",
        str(post["content_type"]).startswith("application/vnd.ims.lis.v1.score+json"),
        post["content_type"],
    )
    if seconds is not None:
        report.figures["submit click -> score at the LMS"] = f"{seconds:.2f} s"
    report.figures["score received"] = json.dumps(score, sort_keys=True)


# --- the run --------------------------------------------------------------------------


def student(
    *, lms_url: str, launch_url: str, quiz_slug: str, report: Report, run_dir: Path, launch_only: bool
) -> tuple[tuple[str, str], float | None]:
    """The student's browser: launch from the course page, then take the quiz. Returns
    the LTI user id and line item the LMS sent in the launch, and the submit time."""
    profile = run_dir / "chromium-profile"
    try:
        with sync_playwright() as playwright, closing(browser(playwright, profile)) as context:
            page = context.pages[0] if context.pages else context.new_page()
            quiz_path = f"/quizzes/{quiz_slug}/"
            landing = launch_from_course(
                page=page, lms_url=lms_url, launch_url=launch_url, quiz_path=quiz_path, report=report, run_dir=run_dir
            )
            sent = [r["claims"] for r in records(run_dir / "lms", "launches") if "claims" in r]
            sub = sent[-1]["sub"] if sent else ""
            lineitem = sent[-1].get(AGS_CLAIM, {}).get("lineitem", "") if sent else ""
            if launch_only:
                return (sub, lineitem), None
            print("- the student takes the quiz", flush=True)
            submitted_at, _ = take_quiz(frame=landing.frame, report=report, run_dir=run_dir, page=page)
            return (sub, lineitem), submitted_at
    finally:
        shutil.rmtree(profile, ignore_errors=True)  # megabytes of browser cache, nothing to read


def run(args: argparse.Namespace, report: Report) -> None:
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    run_dir = ROOT / "var" / "acceptance" / f"run-{stamp}"
    (run_dir / "tool-var").mkdir(parents=True)
    lms_dir = run_dir / "lms"
    tool_port, lms_port = args.tool_port or free_port(), args.lms_port or free_port()
    tool_url, lms_url = f"http://127.0.0.1:{tool_port}", f"http://localhost:{lms_port}"
    env = {
        **os.environ,
        "GRADER_VAR_DIR": str(run_dir / "tool-var"),
        "LTI_ALLOW_HTTP": "true",
        "LTI_TOOL_BASE_URL": tool_url,
        "PYTHONUNBUFFERED": "1",
    }
    report.figures["tool"] = tool_url
    report.figures["foreign LMS"] = lms_url
    report.figures["records"] = str(run_dir.relative_to(ROOT))
    print(f"Acceptance run in {run_dir.relative_to(ROOT)}: tool {tool_url}, foreign LMS {lms_url}", flush=True)
    if not Path(CHROMIUM).exists():
        raise Stop(f"Chromium is not at {CHROMIUM}: run `make browser` (scripts/ensure-chromium.sh)")
    with ExitStack() as stack:
        print("- starting the tool (make run) and the foreign LMS", flush=True)
        lms = stack.enter_context(lms_running(port=lms_port, data_dir=lms_dir, log=run_dir / "lms.log"))
        tool = stack.enter_context(tool_running(port=tool_port, env=env, log=run_dir / "tool.log"))
        try:
            wait_for(
                "the tool", lambda: http_ok(tool_url + "/healthz/"), timeout=240, alive=lambda: tool.poll() is None
            )
        except Stop:
            print(tail(run_dir / "tool.log"))
            raise
        wait_for("the LMS", lambda: http_ok(lms_url + "/registration"), timeout=30, alive=lambda: lms.poll() is None)
        print("- registering the LMS with manage.py lti_register_platform", flush=True)
        urls = register(lms_url=lms_url, env=env, report=report, tool_url=tool_url)
        quiz = pick_quiz(env=env, wanted=args.quiz)
        report.figures["quiz"] = f"{quiz['slug']} ({quiz['title']})"
        configure_lms(lms_url=lms_url, urls=urls, quiz_slug=quiz["slug"])
        print(f"- the student launches {quiz['slug']} from the LMS course page", flush=True)
        launched, submitted_at = student(
            lms_url=lms_url,
            launch_url=urls["launch"],
            quiz_slug=quiz["slug"],
            report=report,
            run_dir=run_dir,
            launch_only=args.launch_only,
        )
        if submitted_at is None:
            report.notes.append("--launch-only: the quiz and the score were not tried")
            return
        sub, lineitem = launched
        print(f"- waiting up to {args.score_timeout:.0f} s for the score at the LMS", flush=True)
        posts, seconds = score_arrival(
            data_dir=lms_dir, sub=sub, submitted_at=submitted_at, timeout=args.score_timeout, grace=args.grace
        )
        attempt = tool_attempt(env=env, sub=sub, quiz_slug=quiz["slug"])
        report.figures["tool's attempt"] = json.dumps(attempt, sort_keys=True)
        tokens = records(lms_dir, "tokens")
        report.figures["token requests (status)"] = ", ".join(str(t["status"]) for t in tokens) or "none"
        if tokens:
            report.figures["client assertion (last)"] = json.dumps(tokens[-1].get("assertion"), sort_keys=True)
            report.figures["scopes granted (last)"] = tokens[-1].get("granted", "")
        report.figures["score posts at the LMS, any user"] = str(len(records(lms_dir, "scores")))
        check_score(report=report, posts=posts, attempt=attempt, lineitem=lineitem, seconds=seconds)


def summary(report: Report, error: str = "") -> None:
    verdict = "PASS" if report.passed and not error else "FAIL"
    print("\n" + "=" * 72)
    print(f"{verdict}: a launch from a foreign LMS (lti1p3platform) lands on the quiz; the score arrives once")
    for check in report.checks:
        print(f"  {'PASS' if check.ok else 'FAIL'}  {check.name}{' - ' + check.detail if check.detail else ''}")
    if error:
        print(f"  FAIL  stopped: {error}")
    for name, value in report.figures.items():
        print(f"  {name}: {value}")
    for note in report.notes:
        print(f"  note: {note}")
    print("=" * 72, flush=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quiz", default=PREFERRED_QUIZ, help="slug of a published quiz (default: %(default)s)")
    parser.add_argument("--tool-port", type=int, default=0, help="default: a free port")
    parser.add_argument("--lms-port", type=int, default=0, help="default: a free port")
    parser.add_argument("--score-timeout", type=float, default=90, help="seconds to wait for the score")
    parser.add_argument(
        "--grace", type=float, default=35, help="seconds to watch for a duplicate (the passback sweep runs every 30 s)"
    )
    parser.add_argument("--launch-only", action="store_true", help="stop once the student is on the quiz page")
    args = parser.parse_args()
    report, error = Report(), ""
    try:
        run(args, report)
    except Stop as stop:
        error = str(stop)
    except KeyboardInterrupt:
        error = "interrupted"
    summary(report, error)
    return 0 if report.passed and not error else 1


if __name__ == "__main__":
    sys.exit(main())
