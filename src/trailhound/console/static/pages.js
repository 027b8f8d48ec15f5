// The console's management pages: suppression rules, threat and trusted lists, usage, sources.
// Same rules as console.js: DOM calls and text nodes only; every call goes through api().
"use strict";

function table(id, heads, rows) {
  return rows.length ? h("table", { id }, h("thead", {}, h("tr", {}, heads.map((x) => h("th", {}, x)))), h("tbody", {}, rows))
    : h("p", { class: "muted", id }, "None.");
}

function confirmButton(id, text, action) {  // two presses, no dialog: the first arms it, the second acts
  const b = h("button", { type: "button", id, class: "danger" }, text);
  b.addEventListener("click", async () => {
    if (b.dataset.armed !== "true") { b.dataset.armed = "true"; b.textContent = `Press again: ${text.toLowerCase()}`; return; }
    await action();
  });
  return b;
}

function criteriaText(fc) {
  return Object.entries((fc && fc.criterion) || {}).map(([key, ops]) =>
    `${key} ${Object.entries(ops).map(([op, v]) => `${op} ${Array.isArray(v) ? v.join(" | ") : v}`).join(", ")}`).join("; ");
}

async function countMatching(criterion) {  // [count, text]: counted up to 10,000 (ConsoleCount)
  const n = await api("ConsoleCount", { FindingCriteria: { criterion } });
  return [n.count, n.more ? `more than ${n.count.toLocaleString("en")}` : n.count.toLocaleString("en")];
}

// --- Suppression rules ----------------------------------------------------------------------------------

async function rulesPage() {
  const names = [];
  let token;
  do {  // a detector has at most 100 filters: two pages at most
    const page = await api("ListFilters", { MaxResults: 50, NextToken: token });
    names.push(...(page.filterNames || []));
    token = page.nextToken;
  } while (token);
  const rules = await Promise.all(names.map((name) => api("GetFilter", { FilterName: name })));
  const counts = await Promise.all(rules.map((r) => countMatching(r.findingCriteria.criterion || {}).catch(() => [null, "—"])));
  const status = h("p", { id: "action-status", role: "status" });
  const rows = rules.map((r, i) => {
    const description = h("input", { value: r.description || "", size: 40, "aria-label": `description of ${r.name}`, class: "rule-description" });
    const action = h("select", { "aria-label": `action of ${r.name}`, class: "rule-action" },
      [["ARCHIVE", "archive (suppress)"], ["NOOP", "filter only"]].map(([v, text]) => h("option", { value: v, selected: v === r.action }, text)));
    const rank = h("input", { type: "number", min: 1, max: 100, value: r.rank, size: 4, "aria-label": `rank of ${r.name}`, class: "rule-rank" });
    const criteria = h("textarea", { rows: 3, cols: 60, "aria-label": `criteria of ${r.name}`, class: "rule-criteria" }, JSON.stringify(r.findingCriteria.criterion || {}, null, 1));
    const save = h("button", { type: "button", class: "rule-save" }, "Save");
    save.addEventListener("click", async () => {
      let criterion;
      try { criterion = JSON.parse(criteria.value); } catch (error) { status.replaceChildren(problem(`${r.name}: the criteria are not JSON (${error.message}).`)); return; }
      try {
        await api("UpdateFilter", { FilterName: r.name, Description: description.value, Action: action.value, Rank: parseInt(rank.value, 10) || undefined,
          FindingCriteria: { criterion } });
        status.replaceChildren(h("span", { class: "ok" }, `Rule ${r.name} saved.`));
      } catch (error) { status.replaceChildren(problem(error)); }
    });
    const remove = confirmButton(`delete-${i}`, "Delete", async () => {
      try { await api("DeleteFilter", { FilterName: r.name }); location.reload(); } catch (error) { status.replaceChildren(problem(error)); }
    });
    return h("tr", { "data-name": r.name },
      h("td", {}, h("strong", {}, r.name), h("div", { class: "muted" }, criteriaText(r.findingCriteria))),
      h("td", {}, action), h("td", {}, rank), h("td", {}, description, h("details", {}, h("summary", {}, "Criteria (JSON)"), criteria)),
      h("td", { class: "matches", "data-count": counts[i][0] }, counts[i][1]),
      h("td", {}, h("div", { class: "bar" }, save, remove)));
  });
  show(h("h1", {}, `Suppression rules — ${session.region}`),
    h("p", {}, "Rules with the action archive suppress: new findings that match are archived as they arrive. ",
      "Make one from a finding with “Suppress findings like this”."),
    table("rules", ["Rule", "Action", "Rank", "Description", "Findings it matches now", ""], rows), status);
}

// --- Threat and trusted lists ---------------------------------------------------------------------------

const LIST_KINDS = [
  { kind: "threatintelset", noun: "ThreatIntelSet", ids: "threatIntelSetIds", id: "ThreatIntelSetId", title: "Threat lists" },
  { kind: "ipset", noun: "IPSet", ids: "ipSetIds", id: "IpSetId", title: "Trusted lists" },
];
const LIST_FORMATS = ["TXT", "STIX", "OTX_CSV", "ALIEN_VAULT", "PROOF_POINT", "FIRE_EYE"];

async function listSection(k, status) {
  const ids = (await api(`List${k.noun}s`, { MaxResults: 50 }))[k.ids] || [];
  const sets = await Promise.all(ids.map((id) => api(`Get${k.noun}`, { [k.id]: id }).then((x) => ({ ...x, id }))));
  const matched = await Promise.all(sets.map((x) => k.kind === "threatintelset"
    ? countMatching({ "service.additionalInfo.threatListName": { eq: [x.name] } }).catch(() => [null, "—"]) : Promise.resolve(null)));
  const rows = sets.map((x, i) => {
    const toggle = h("button", { type: "button", class: "list-toggle" }, x.status === "ACTIVE" ? "Deactivate" : "Activate");
    toggle.addEventListener("click", async () => {
      try { await api(`Update${k.noun}`, { [k.id]: x.id, Activate: x.status !== "ACTIVE" }); location.reload(); } catch (error) { status.replaceChildren(problem(error)); }
    });
    const remove = confirmButton(`delete-${k.kind}-${i}`, "Delete", async () => {
      try { await api(`Delete${k.noun}`, { [k.id]: x.id }); location.reload(); } catch (error) { status.replaceChildren(problem(error)); }
    });
    const match = k.kind === "threatintelset"
      ? h("a", { href: url("findings", { list: x.name, archived: "all" }), class: "list-matches", "data-count": matched[i][0] }, `${matched[i][1]} findings`)
      : h("span", { class: "muted" }, "suppresses findings from its addresses (nothing is kept per match)");
    return h("tr", { "data-name": x.name }, h("td", {}, h("strong", {}, x.name), h("div", { class: "muted" }, x.location)), h("td", {}, x.format),
      h("td", { class: "list-status" }, x.status, x.errorDetails ? h("div", { class: "error" }, x.errorDetails) : null), h("td", {}, match),
      h("td", {}, h("div", { class: "bar" }, toggle, remove)));
  });
  return [h("h2", {}, k.title), table(`${k.kind}-table`, ["List", "Format", "Status", "What it matched", ""], rows)];
}

function uploadForm(status) {
  const kind = h("select", { id: "upload-kind" }, LIST_KINDS.map((k) => h("option", { value: k.kind }, k.title.replace(/s$/, ""))));
  const name = h("input", { id: "upload-name", required: true, size: 30 });
  const format = h("select", { id: "upload-format" }, LIST_FORMATS.map((f) => h("option", { value: f }, f)));
  const file = h("input", { id: "upload-file", type: "file", required: true, accept: ".txt,.csv,.xml,.json,text/*" });
  const activate = h("input", { id: "upload-activate", type: "checkbox", checked: true });
  const form = h("form", { id: "upload-form", class: "filters" }, h("label", {}, "Kind", kind), h("label", {}, "Name", name),
    h("label", {}, "Format", format), h("label", {}, "File", file), h("label", { class: "inline" }, activate, "Activate now"),
    h("button", { type: "submit", id: "upload-submit" }, "Upload"));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const chosen = file.files[0];
    if (!chosen) { status.replaceChildren(problem("Choose a file.")); return; }
    try {
      await api("ConsoleUploadList", { Kind: kind.value, Name: name.value, Format: format.value, Activate: activate.checked, Content: await chosen.text() });
      location.reload();
    } catch (error) { status.replaceChildren(problem(error)); }
  });
  return form;
}

async function listsPage() {
  const status = h("p", { id: "action-status", role: "status" });
  const sections = await Promise.all(LIST_KINDS.map((k) => listSection(k, status)));
  show(h("h1", {}, `Threat and trusted lists — ${session.region}`),
    h("p", {}, "A threat list's addresses and domains raise findings when they are seen; a trusted list's addresses raise none. ",
      "The next scan or follow cycle reads active lists again."),
    h("h2", {}, "Upload a list"), uploadForm(status), status, sections);
}

// --- Usage ----------------------------------------------------------------------------------------------

const USAGE_SOURCES = [["cloudtrail", "CloudTrail management"], ["s3data", "S3 data events"], ["flow", "VPC flow"], ["dns", "DNS"]];

async function usagePage() {
  const u = await api("ConsoleUsage", {});
  const usd = (v) => `$${v === 0 ? "0" : v < 0.1 ? v.toPrecision(2) : v < 10 ? v.toFixed(2) : Math.round(v).toLocaleString("en")}`;
  const chart = u.months.length ? stackedBars("usage-chart", "What GuardDuty would have charged, by month and source", u.months.map((m) => ({ label: m.month, values: m.bySource })),
    USAGE_SOURCES.map(([key, label], i) => ({ key, label, cls: `fill-s${i}` })), usd) : h("p", { class: "muted" }, "No usage metered yet: scan some logs.");
  const rows = u.rows.map((r) => h("tr", { "data-month": r.month, "data-account": r.accountId, "data-source": r.source },
    h("td", {}, r.month), h("td", {}, r.accountId), h("td", {}, r.source), h("td", { class: "num" }, r.events.toLocaleString("en")),
    h("td", { class: "num" }, (r.bytes / 1e9).toFixed(3)), h("td", { class: "num usd", "data-usd": r.usd }, `$${r.usd.toFixed(2)}`)));
  show(h("h1", {}, "Usage"),
    h("p", {}, "Events and bytes each scan metered, by the events' own month, and what GuardDuty would have billed for them ",
      "at US East list prices (CloudTrail per million events, S3 data events tiered, flow and DNS logs per GB, tiered together)."),
    chart, h("h2", {}, "By month, account and source"),
    table("usage", ["Month", "Account", "Source", "Events", "GB", "GuardDuty would charge"], rows),
    h("p", { id: "usage-total", "data-usd": u.months.reduce((a, m) => a + m.usd, 0) }, `Total: $${u.months.reduce((a, m) => a + m.usd, 0).toFixed(2)}`));
}

// --- Sources --------------------------------------------------------------------------------------------

async function sourcesPage() {
  let x;
  try { x = await api("ConsoleSources", {}); } catch (error) { show(h("h1", {}, "Sources"), problem(error)); return; }
  if (!x.following) {
    show(h("h1", {}, "Sources"), h("p", { id: "not-following" }, "This serve follows no sources: start it with --source FOLDER or s3://bucket/prefix, ",
      "or scan logs with trailhound scan."));
    return;
  }
  const rows = x.sources.map((src) => h("tr", { "data-source": src.source },
    h("td", {}, src.source, h("div", { class: "muted" }, src.kind)),
    h("td", {}, src.lastObject || "—", src.lastReadAt ? h("div", { class: "muted" }, `read ${when(src.lastReadAt)}`) : null),
    h("td", { class: "lag", "data-seconds": src.lagSeconds }, src.lagSeconds === undefined ? "—" : duration(src.lagSeconds)),
    h("td", { class: src.error ? "error" : "ok" }, src.error || "reading"),
    h("td", {}, h("span", { class: "quarantined", "data-count": src.quarantined }, String(src.quarantined)),
      src.quarantine.length ? h("ul", {}, src.quarantine.map((q) => h("li", {}, `${q.path}${q.line !== null ? ":" + q.line : ""}: ${q.message}`))) : null)));
  show(h("h1", {}, "Sources"),
    facts([["Follow cycles", String(x.cycles)], ["Files read", String(x.filesRead)], ["Events", String(x.events)], ["Last cycle", when(x.lastCycleAt)]]),
    table("sources", ["Source", "Last object", "Lag (now − its delivery)", "Error", "Quarantined"], rows));
}

Object.assign(PAGES, { rules: rulesPage, lists: listsPage, usage: usagePage, sources: sourcesPage });
main();
