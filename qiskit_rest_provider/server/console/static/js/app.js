// The console's shell: sign-in, the header, and a hash router that renders one view at a time
// into <main>. A view gets a context whose AbortSignal fires when the person navigates away,
// which stops its requests and its refresh timers.

import * as api from "./api.js";
import { backendView, backendsView } from "./backends.js";
import { errorBox, fmtDuration, h, loading, parseQuery, replace } from "./dom.js";
import { jobView } from "./job.js";
import { jobsView } from "./jobs.js";
import { sessionView, sessionsView } from "./sessions.js";

const main = document.getElementById("main");
const nav = document.getElementById("nav");
const account = document.getElementById("account");
const live = document.getElementById("live");

const ROUTES = [
  [/^\/jobs$/, jobsView, "jobs"],
  [/^\/jobs\/([^/]+)$/, jobView, "jobs"],
  [/^\/sessions$/, sessionsView, "sessions"],
  [/^\/sessions\/([^/]+)$/, sessionView, "sessions"],
  [/^\/backends$/, backendsView, "backends"],
  [/^\/backends\/([^/]+)$/, backendView, "backends"],
];

/** Say something to screen readers (a polite live region). */
export function announce(text) {
  live.textContent = "";
  window.setTimeout(() => {
    live.textContent = text;
  }, 50);
}

/** Run `task` now and then every `ms` (or what `ms()` answers) until `signal` aborts; paused
 * while the tab is hidden. */
export function poll(signal, ms, task) {
  let timer = null;
  const next = () => {
    if (signal.aborted) return;
    const delay = typeof ms === "function" ? ms() : ms;
    if (delay === null) return;
    timer = window.setTimeout(run, delay);
  };
  const run = async () => {
    if (signal.aborted) return;
    if (document.hidden) {
      next();
      return;
    }
    try {
      await task();
    } catch (error) {
      if (signal.aborted || (error && error.name === "AbortError")) return;
    }
    next();
  };
  signal.addEventListener("abort", () => window.clearTimeout(timer));
  next();
}

let usageRequest = null;

async function showUsage(target) {
  try {
    usageRequest = usageRequest || api.request("/instances/usage");
    const usage = await usageRequest;
    const used = fmtDuration(usage.usage_consumed_seconds || 0);
    const limit = usage.usage_limit_seconds;
    replace(
      target,
      limit
        ? `Usage this period: ${used} of ${fmtDuration(limit)}`
        : `Usage this period: ${used}`,
    );
  } catch {
    replace(target, "");
  } finally {
    window.setTimeout(() => {
      usageRequest = null;
    }, 5000);
  }
}

function chrome(who, section) {
  for (const link of nav.querySelectorAll("a")) {
    if (link.dataset.section === section) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
  nav.hidden = !who;
  if (!who) {
    replace(account);
    return;
  }
  const usage = h("span", { class: "usage" });
  const current = who.instances.find((item) => item.crn === who.instance);
  let chooser;
  if (who.instances.length > 1) {
    chooser = h(
      "label",
      { class: "instance" },
      h("span", { class: "visually-hidden" }, "Instance"),
      h(
        "select",
        { id: "instance-select", onchange: (event) => api.selectInstance(event.target.value) },
        who.instances.map((item) =>
          h("option", { value: item.crn, selected: item.crn === who.instance }, item.name),
        ),
      ),
    );
  } else {
    chooser = h("span", { class: "instance", title: who.instance }, current ? current.name : who.instance);
  }
  replace(
    account,
    chooser,
    usage,
    h(
      "button",
      { type: "button", class: "ghost", id: "sign-out", onclick: () => api.signOut() },
      "Sign out",
    ),
  );
  showUsage(usage);
}

function signInView(reason) {
  document.title = "Sign in · Qiskit Runtime console";
  const keyInput = h("input", {
    id: "apikey",
    name: "apikey",
    type: "password",
    autocomplete: "off",
    spellcheck: "false",
    required: true,
  });
  const instanceInput = h("input", {
    id: "instance",
    name: "instance",
    type: "text",
    autocomplete: "off",
    spellcheck: "false",
    placeholder: "crn:v1:bluemix:public:quantum-computing:…",
  });
  const problem = h("div", { id: "signin-error" });
  const button = h("button", { type: "submit", class: "primary", id: "signin-submit" }, "Sign in");
  const form = h(
    "form",
    {
      class: "signin-form",
      novalidate: true,
      onsubmit: async (event) => {
        event.preventDefault();
        const key = keyInput.value.trim();
        if (!key) {
          replace(problem, errorBox({ message: "Enter an API key." }, "Cannot sign in"));
          keyInput.focus();
          return;
        }
        button.disabled = true;
        replace(problem, loading("Signing in…"));
        try {
          await api.signIn(key, instanceInput.value.trim());
          keyInput.value = "";
          announce("Signed in");
        } catch (error) {
          replace(problem, errorBox(error, "Cannot sign in"));
          keyInput.focus();
        } finally {
          button.disabled = false;
        }
      },
    },
    h("label", { for: "apikey" }, "API key"),
    keyInput,
    h("label", { for: "instance" }, "Instance CRN ", h("span", { class: "muted" }, "(optional)")),
    instanceInput,
    h(
      "p",
      { class: "hint" },
      "Without a CRN the console uses the first instance the key may use, and offers the others.",
    ),
    button,
    problem,
  );
  replace(
    main,
    h(
      "section",
      { class: "signin card", "aria-labelledby": "signin-title" },
      h("h1", { id: "signin-title", tabindex: "-1" }, "Sign in"),
      reason ? h("div", { class: "notice", role: "status" }, reason) : null,
      h(
        "p",
        {},
        "Sign in with an API key of this service (",
        h("code", {}, "qiskit-rest serve"),
        " prints it). The key is exchanged for a session token and is not kept; the token lives " +
          "in this tab only and is forgotten when you sign out or close the tab.",
      ),
      form,
    ),
  );
  keyInput.focus();
}

function notFound() {
  replace(
    main,
    h("h1", { tabindex: "-1" }, "Page not found"),
    h("p", {}, "There is no such page. ", h("a", { href: "#/jobs" }, "Go to the workloads.")),
  );
}

let controller = null;
let firstRender = true;

async function render() {
  if (controller) controller.abort();
  controller = new AbortController();
  const { signal } = controller;
  const hash = location.hash.slice(1) || "/jobs";
  const [path, queryText] = hash.split("?");
  const who = api.session();
  const match = ROUTES.map(([pattern, view, section]) => [pattern.exec(path), view, section]).find(
    ([found]) => found,
  );
  chrome(who, match ? match[2] : "");
  if (!who) {
    signInView(api.lastSignOutReason());
    return;
  }
  if (!match) {
    notFound();
    return;
  }
  const [found, view] = match;
  const context = {
    main,
    signal,
    params: found.slice(1).map(decodeURIComponent),
    query: parseQuery(queryText),
    title: (text) => {
      document.title = `${text} · Qiskit Runtime console`;
    },
    announce,
    poll: (ms, task) => poll(signal, ms, task),
  };
  replace(main, loading());
  try {
    await view(context);
    if (!signal.aborted && !firstRender) {
      const heading = main.querySelector("h1");
      if (heading) {
        heading.setAttribute("tabindex", "-1");
        heading.focus({ preventScroll: false });
      }
    }
  } catch (error) {
    if (signal.aborted || (error && error.name === "AbortError")) return;
    if (!api.session()) return; // signed out by a 401: the session listener renders sign-in
    replace(
      main,
      h("h1", { tabindex: "-1" }, "Cannot show this page"),
      errorBox(error),
      h("p", {}, h("a", { href: "#/jobs" }, "Back to the workloads")),
    );
  } finally {
    firstRender = false;
  }
}

api.onSessionChange(() => {
  usageRequest = null;
  render();
});
window.addEventListener("hashchange", render);
document.getElementById("skip-link").addEventListener("click", (event) => {
  event.preventDefault();
  main.focus();
});
render();
