// Trailhound's console: the pages, built with DOM calls only. Every value from a finding becomes a text
// node or an attribute set with setAttribute — never markup — because log data is written by attackers.
"use strict";

const SEVERITIES = [  // GuardDuty's labels; an integer N in FindingCriteria means the band [N, N+1)
  { name: "critical", label: "Critical", bands: ["9", "10"], min: 9 },
  { name: "high", label: "High", bands: ["7", "8"], min: 7 },
  { name: "medium", label: "Medium", bands: ["4", "5", "6"], min: 4 },
  { name: "low", label: "Low", bands: ["1", "2", "3"], min: 0 },
];
const SORTS = { updatedAt: "Last seen", createdAt: "Created", severity: "Severity", type: "Type", accountId: "Account" };
const RESOURCE_KEYS = {  // the criterion that names a finding's resource, by resource type
  Instance: "resource.instanceDetails.instanceId",
  AccessKey: "resource.accessKeyDetails.accessKeyId",
  S3Bucket: "resource.s3BucketDetails.name",
};

const NAV = [["", "Summary"], ["findings", "Findings"], ["rules", "Suppression rules"], ["lists", "Threat & trusted lists"],
  ["usage", "Usage"], ["sources", "Sources"]];
const DAY_MS = 86400000;
let session = null;
const query = new URLSearchParams(location.search);

// --- building blocks ---------------------------------------------------------------------------------

function h(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
    else e.setAttribute(k, v === true ? "" : String(v));
  }
  for (const c of children.flat(Infinity)) {
    if (c === null || c === undefined || c === false) continue;
    e.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return e;
}

function url(path, params) {  // a console address; every value is encoded, and the region carried along
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries({ region: session.region, ...params })) if (v !== undefined && v !== null && v !== "") q.set(k, v);
  return "/console/" + path + "?" + q.toString();
}

function link(path, params, ...text) { return h("a", { href: url(path, params) }, ...text); }

async function api(operation, input) {
  const response = await fetch(`/console/api/${operation}?region=${encodeURIComponent(session.region)}`, {
    method: "POST", credentials: "same-origin",
    headers: { "Content-Type": "application/json", "X-CSRF-Token": session.csrfToken },
    body: JSON.stringify(input || {}),
  });
  if (response.status === 401) { location.assign("/console/signin?next=" + encodeURIComponent(location.pathname + location.search)); throw new Error("signed out"); }
  const body = await response.json();
  if (!response.ok) throw new Error(body.message || `${operation} failed (${response.status})`);
  return body;
}

function severityOf(value) { return SEVERITIES.find((s) => value >= s.min) || SEVERITIES[3]; }
function badge(value) { const s = severityOf(value); return h("span", { class: `sev sev-${s.name}`, title: String(value) }, s.label, " ", Number(value).toFixed(1)); }
function when(iso) { return iso ? iso.replace("T", " ").replace(/\.\d+Z$/, " UTC") : ""; }
function resourceIdOf(f) {
  const r = f.resource || {};
  if (r.instanceDetails) return r.instanceDetails.instanceId;
  if (r.s3BucketDetails && r.s3BucketDetails.length) return r.s3BucketDetails[0].name;
  if (r.accessKeyDetails) return r.accessKeyDetails.accessKeyId;
  return "";
}
function show(...nodes) { document.getElementById("app").replaceChildren(...nodes.flat(Infinity).filter((n) => n !== null && n !== undefined)); }
function problem(error) { return h("p", { class: "error", role: "alert" }, String(error.message || error)); }

function header() {
  const signOut = h("button", { type: "button", id: "signout", onclick: async () => {
    await fetch("/console/api/signout", { method: "POST", headers: { "X-CSRF-Token": session.csrfToken }, credentials: "same-origin" });
    location.assign("/console/signin");
  } }, "Sign out");
  const region = h("form", { method: "get", action: location.pathname },
    h("label", { class: "inline" }, "Region", h("input", { name: "region", value: session.region, size: 12 })));
  document.getElementById("top").replaceChildren(
    h("span", { class: "brand" }, "Trailhound"), h("nav", { "aria-label": "pages" }, NAV.map(([path, text]) => {
      const here = location.pathname === "/console/" + path;
      return h("a", { href: url(path, {}), "aria-current": here ? "page" : null }, text);
    })), region,
    h("span", { class: "who", id: "who" }, `account ${session.accountId}${session.admin ? " (administrator)" : ""}`), signOut);
}

// --- criteria from the address (the filter lives in the URL, so a view can be shared) -------------------

function dayStart(text) {  // "2026-11-30" -> epoch ms of its start (UTC); anything else -> null
  if (!/^\d{4}-\d{2}-\d{2}$/.test(text || "")) return null;
  const t = Date.parse(text + "T00:00:00Z");
  return Number.isNaN(t) ? null : t;
}

function day(ms) { return new Date(ms).toISOString().slice(0, 10); }

function criteriaFromQuery(q) {
  const criterion = {};
  const list = (name) => (q.get(name) || "").split(",").map((s) => s.trim()).filter(Boolean);
  if (list("type").length) criterion.type = { eq: list("type") };
  const bands = list("severity").flatMap((name) => (SEVERITIES.find((s) => s.name === name) || { bands: [] }).bands);
  if (bands.length) criterion.severity = { eq: bands };
  if (q.get("sevmin")) criterion.severity = { ...(criterion.severity || {}), gte: parseInt(q.get("sevmin"), 10) };
  if (list("account").length) criterion.accountId = { eq: list("account") };
  const archived = q.get("archived") || "false";
  if (archived !== "all") criterion["service.archived"] = { eq: [archived] };
  if (q.get("rtype")) criterion["resource.resourceType"] = { eq: [q.get("rtype")] };
  const since = dayStart(q.get("since")), until = dayStart(q.get("until"));  // whole UTC days, until inclusive
  if (since !== null || until !== null) {
    criterion.updatedAt = {};
    if (since !== null) criterion.updatedAt.gte = since;
    if (until !== null) criterion.updatedAt.lt = until + DAY_MS;
  }
  if (q.get("list")) criterion["service.additionalInfo.threatListName"] = { eq: [q.get("list")] };
  if (q.get("resource") && RESOURCE_KEYS[q.get("rtype")]) criterion[RESOURCE_KEYS[q.get("rtype")]] = { eq: [q.get("resource")] };
  return { criterion };
}

// --- Summary -----------------------------------------------------------------------------------------

const CHART_DAYS = 30;

function duration(sec) {
  if (sec === null || sec === undefined) return "—";
  const f = Math.floor;
  if (sec < 60) return `${sec} s`;
  if (sec < 3600) return `${f(sec / 60)} min`;
  if (sec < 86400) return `${f(sec / 3600)} h ${f((sec % 3600) / 60)} min`;
  return `${f(sec / 86400)} d ${f((sec % 86400) / 3600)} h`;
}

function ingestionPanel(x) {
  return h("section", { class: "panel", id: "ingestion" }, h("h2", {}, "Ingestion"), x.lastIngestedAt ? facts([
    ["Last scan or follow commit", `${when(x.lastIngestedAt)} (${duration(x.sinceSeconds)} ago)`],
    ["Newest event reached", when(x.newestEventAt)],
    ["Lag (commit − newest event)", h("span", { id: "lag", "data-seconds": x.lagSeconds }, duration(x.lagSeconds))],
    ["Files read", String(x.files)], ["Quarantined records", String(x.quarantined)],
    x.following ? ["Following sources", h("span", {}, `last cycle ${when(x.lastCycleAt) || "not yet"}`, x.sourceErrors ? `, ${x.sourceErrors} failing — ` : " — ", link("sources", {}, "sources"))] : ["Following sources", "no (scan, or serve without --source)"],
  ]) : h("p", { class: "muted" }, "Nothing has been scanned into this store yet."));
}

async function findingsByDay(base) {  // one DATE grouping per severity band, over the last CHART_DAYS days
  const since = dayStart(day(Date.now())) - (CHART_DAYS - 1) * DAY_MS;
  const bands = await Promise.all(SEVERITIES.map((sev) => api("GetFindingsStatistics", {
    FindingCriteria: { criterion: { ...base.criterion, severity: { eq: sev.bands }, updatedAt: { gte: since } } }, GroupBy: "DATE", MaxResults: 100 })));
  const days = [];
  for (let t = since; t < since + CHART_DAYS * DAY_MS; t += DAY_MS) days.push({ label: day(t), values: {} });
  const at = Object.fromEntries(days.map((d) => [d.label, d]));
  SEVERITIES.forEach((sev, i) => { for (const g of bands[i].findingStatistics.groupedByDate || []) if (at[g.date]) at[g.date].values[sev.name] = g.totalFindings; });
  return days;
}

function severityChart(days) {
  for (const d of days) d.href = url("findings", { since: d.label, until: d.label });
  return stackedBars("severity-chart", "Findings by severity and day", days,
    [...SEVERITIES].reverse().map((x) => ({ key: x.name, label: x.label, cls: `fill-${x.name}` })), (v) => String(Math.round(v)));
}

async function summaryPage() {
  const current = { criterion: { "service.archived": { eq: ["false"] } } };
  const [bySeverity, types, resources, accounts, ingestion, byDay] = await Promise.all([
    api("GetFindingsStatistics", { FindingCriteria: current, FindingStatisticTypes: ["COUNT_BY_SEVERITY"] }),
    api("GetFindingsStatistics", { FindingCriteria: current, GroupBy: "FINDING_TYPE", OrderBy: "DESC", MaxResults: 10 }),
    api("GetFindingsStatistics", { FindingCriteria: current, GroupBy: "RESOURCE", OrderBy: "DESC", MaxResults: 10 }),
    session.admin ? api("GetFindingsStatistics", { FindingCriteria: current, GroupBy: "ACCOUNT", OrderBy: "DESC", MaxResults: 25 }) : null,
    api("ConsoleIngestion", {}), findingsByDay(current),
  ]);
  const counts = { total: 0 };
  for (const s of SEVERITIES) counts[s.name] = 0;
  for (const [value, n] of Object.entries(bySeverity.findingStatistics.countBySeverity || {})) {
    counts[severityOf(parseFloat(value)).name] += n;
    counts.total += n;
  }
  const card = (name, label, params) => h("a", { class: "card", href: url("findings", params) }, h("span", { class: "n", id: `count-${name}`, "data-count": counts[name] }, counts[name]), label);
  const cards = h("div", { class: "cards" }, card("total", "Current findings", {}),
    SEVERITIES.map((s) => card(s.name, s.label, { severity: s.name })));
  const typeRows = (types.findingStatistics.groupedByFindingType || []).map((g) =>
    h("tr", {}, h("td", {}, link("findings", { type: g.findingType }, g.findingType)), h("td", {}, g.totalFindings), h("td", {}, when(g.lastGeneratedAt))));
  const resourceRows = (resources.findingStatistics.groupedByResource || []).map((g) =>
    h("tr", {}, h("td", {}, g.resourceType), h("td", {}, g.resourceId ? link("findings", { rtype: g.resourceType, resource: g.resourceId }, g.resourceId) : "—"),
      h("td", {}, g.accountId), h("td", {}, g.totalFindings), h("td", {}, when(g.lastGeneratedAt))));
  const table = (id, heads, rows) => rows.length ? h("table", { id }, h("thead", {}, h("tr", {}, heads.map((x) => h("th", {}, x)))), h("tbody", {}, rows))
    : h("p", { class: "muted" }, "None.");
  const parts = [h("h1", {}, `Summary — ${session.region}`),
    session.detectorId ? null : h("p", { class: "error" }, `No detector in ${session.region}: create one (aws guardduty create-detector) to see findings here.`),
    cards, ingestionPanel(ingestion),
    h("h2", {}, `Findings by severity, last ${CHART_DAYS} days (by last update)`), severityChart(byDay),
    h("h2", {}, "Top finding types"), table("top-types", ["Type", "Findings", "Last seen"], typeRows),
    h("h2", {}, "Most affected resources"), table("top-resources", ["Resource type", "Resource", "Account", "Findings", "Last seen"], resourceRows)];
  if (accounts) {
    parts.push(h("h2", {}, "By account"), table("by-account", ["Account", "Findings", "Last seen"], (accounts.findingStatistics.groupedByAccount || []).map((g) =>
      h("tr", {}, h("td", {}, link("findings", { account: g.accountId }, g.accountId)), h("td", {}, g.totalFindings), h("td", {}, when(g.lastGeneratedAt))))));
  }
  show(...parts);
}

// --- Findings ----------------------------------------------------------------------------------------

function filterForm() {
  const chosen = new Set((query.get("severity") || "").split(","));
  const select = (name, options, value) => h("select", { name, id: `f-${name}` },
    Object.entries(options).map(([v, text]) => h("option", { value: v, selected: v === value }, text)));
  return h("form", { class: "filters", method: "get", action: "/console/findings", id: "filters" },
    h("input", { type: "hidden", name: "region", value: session.region }),
    h("label", {}, "Finding type(s)", h("input", { name: "type", id: "f-type", value: query.get("type") || "", size: 30, placeholder: "Recon:EC2/Portscan, …" })),
    h("fieldset", {}, h("legend", { class: "muted" }, "Severity"), SEVERITIES.map((s) =>
      h("label", { class: "inline" }, h("input", { type: "checkbox", "data-severity": s.name, checked: chosen.has(s.name) }), s.label)),
    h("input", { type: "hidden", name: "severity", id: "f-severity", value: query.get("severity") || "" })),
    h("label", {}, "Account(s)", h("input", { name: "account", id: "f-account", value: query.get("account") || "", size: 14 })),
    h("label", {}, "Resource type", select("rtype", { "": "any", Instance: "Instance", AccessKey: "AccessKey", S3Bucket: "S3Bucket" }, query.get("rtype") || "")),
    h("label", {}, "Resource id", h("input", { name: "resource", id: "f-resource", value: query.get("resource") || "", size: 22 })),
    h("label", {}, "Updated from", h("input", { type: "date", name: "since", id: "f-since", value: query.get("since") || "" })),
    h("label", {}, "to", h("input", { type: "date", name: "until", id: "f-until", value: query.get("until") || "" })),
    h("span", { class: "presets" }, [["Today", 1], ["7 days", 7], ["30 days", 30]].map(([text, n]) =>
      h("a", { href: url("findings", { ...Object.fromEntries(query), token: "", since: day(Date.now() - (n - 1) * DAY_MS), until: "" }), class: "preset" }, text))),
    query.get("list") ? h("input", { type: "hidden", name: "list", value: query.get("list") }) : null,
    h("label", {}, "Archived", select("archived", { false: "current", true: "archived", all: "all" }, query.get("archived") || "false")),
    h("label", {}, "Sort by", select("sort", SORTS, query.get("sort") || "updatedAt")),
    h("label", {}, "Order", select("order", { DESC: "descending", ASC: "ascending" }, query.get("order") || "DESC")),
    h("button", { type: "submit" }, "Apply"),
    h("a", { href: url("findings", {}) }, "Clear"));
}

async function findingsPage() {
  const form = filterForm();
  form.addEventListener("submit", () => {  // the severity checkboxes travel as one list; empty fields stay out of the address
    form.querySelector("#f-severity").value = [...form.querySelectorAll("[data-severity]")].filter((c) => c.checked).map((c) => c.dataset.severity).join(",");
    for (const input of form.querySelectorAll("input[name], select[name]")) if (!input.value) input.disabled = true;
  });
  show(h("h1", {}, `Findings — ${session.region}`), form, h("p", {}, "Loading…"));
  const criteria = criteriaFromQuery(query);
  const size = Math.min(parseInt(query.get("size") || "50", 10) || 50, 50);
  const sort = { attributeName: SORTS[query.get("sort")] ? query.get("sort") : "updatedAt", orderBy: query.get("order") === "ASC" ? "ASC" : "DESC" };
  // the count (up to 10,000: an exact count of millions reads them all) comes in beside the table, which does not wait for it
  const counting = api("ConsoleCount", { FindingCriteria: criteria });
  counting.catch(() => null);
  let listed;
  try {
    listed = await api("ListFindings", { FindingCriteria: criteria, SortCriteria: sort, MaxResults: size, NextToken: query.get("token") || undefined });
  } catch (error) { show(h("h1", {}, "Findings"), form, problem(error)); return; }
  const ids = listed.findingIds || [];
  const findings = ids.length ? (await api("GetFindings", { FindingIds: ids })).findings : [];
  const matchCount = h("strong", { id: "match-count" }, "Counting…");
  const rows = findings.map((f) => h("tr", { "data-id": f.id },
    h("td", {}, h("input", { type: "checkbox", class: "pick", value: f.id, "aria-label": "select" })),
    h("td", {}, badge(f.severity)),
    h("td", {}, link(`findings/${encodeURIComponent(f.id)}`, {}, f.title || f.type), h("div", { class: "muted" }, f.type)),
    h("td", {}, f.resource.resourceType, h("div", { class: "muted" }, resourceIdOf(f))),
    h("td", {}, f.accountId), h("td", {}, f.service.count),
    h("td", {}, when(f.service.eventFirstSeen)), h("td", {}, when(f.updatedAt)),
    h("td", {}, f.service.archived ? "archived" : "")));
  const status = h("span", { id: "action-status", role: "status" });
  const act = async (operation) => {
    const picked = [...document.querySelectorAll("input.pick:checked")].map((c) => c.value);
    if (!picked.length) { status.replaceChildren("Select findings first."); return; }
    try { await api(operation, { FindingIds: picked }); location.reload(); } catch (error) { status.replaceChildren(problem(error)); }
  };
  const pager = h("div", { class: "bar" },
    query.get("token") ? h("a", { href: url("findings", { ...Object.fromEntries(query), token: "" }), id: "first-page" }, "« First page") : null,
    listed.nextToken ? h("a", { href: url("findings", { ...Object.fromEntries(query), token: listed.nextToken }), id: "next-page" }, "Next page »") : null);
  show(h("h1", {}, `Findings — ${session.region}`), form,
    h("div", { class: "bar" }, matchCount,
      h("button", { type: "button", id: "archive-selected", onclick: () => act("ArchiveFindings") }, "Archive selected"),
      h("button", { type: "button", id: "unarchive-selected", onclick: () => act("UnarchiveFindings") }, "Unarchive selected"), status),
    rows.length ? h("table", { id: "findings" }, h("thead", {}, h("tr", {},
      ["", "Severity", "Finding", "Resource", "Account", "Count", "First seen", "Last seen", ""].map((x) => h("th", {}, x)))), h("tbody", {}, rows))
      : h("p", { class: "muted" }, "No findings match."),
    pager);
  document.body.dataset.drawn = "true";  // the table is there (bench_console.py times this); the count follows
  try {
    const n = await counting;
    matchCount.dataset.count = n.count;
    matchCount.dataset.more = n.more;
    matchCount.replaceChildren(n.more ? `More than ${n.count.toLocaleString("en")} findings` : `${n.count.toLocaleString("en")} finding${n.count === 1 ? "" : "s"}`);
  } catch (error) { matchCount.replaceChildren(problem(error)); }
}

// --- Finding detail ------------------------------------------------------------------------------------

function facts(pairs) {
  return h("dl", { class: "facts" }, pairs.filter(([, v]) => v !== undefined && v !== null && v !== "").map(([k, v]) => [h("dt", {}, k), h("dd", {}, v)]));
}

function where(ip) {
  if (!ip) return "";
  const parts = [ip.country && ip.country.countryName, ip.city && ip.city.cityName, ip.organization && ip.organization.asnOrg].filter(Boolean);
  return (ip.ipAddressV4 || ip.ipAddressV6 || "") + (parts.length ? ` (${parts.join(", ")})` : "");
}

function actionInWords(action) {  // one sentence per kind of action, then its fields
  if (!action) return [h("p", {}, "No action recorded.")];
  if (action.awsApiCallAction) {
    const a = action.awsApiCallAction;
    return [h("p", { id: "action-words" }, `The API ${a.api} of ${a.serviceName} was called`, a.remoteIpDetails ? ` from ${where(a.remoteIpDetails)}` : "",
      a.callerType ? ` (caller type ${a.callerType})` : "", a.errorCode ? `, and failed with ${a.errorCode}` : "", "."),
      facts([["User agent", a.userAgent], ["Domain", a.domainDetails && a.domainDetails.domain]])];
  }
  if (action.networkConnectionAction) {
    const n = action.networkConnectionAction;
    const local = n.localIpDetails && (n.localIpDetails.ipAddressV4 || n.localIpDetails.ipAddressV6);
    return [h("p", { id: "action-words" }, `${n.connectionDirection === "INBOUND" ? "Inbound" : n.connectionDirection === "OUTBOUND" ? "Outbound" : "A"} ${n.protocol || ""} connection `,
      `between ${local || "the instance"}${n.localPortDetails ? ":" + n.localPortDetails.port : ""} and ${where(n.remoteIpDetails)}`,
      n.remotePortDetails ? ` port ${n.remotePortDetails.port}${n.remotePortDetails.portName ? " (" + n.remotePortDetails.portName + ")" : ""}` : "",
      n.blocked ? "; it was blocked." : ".")];
  }
  if (action.dnsRequestAction) {
    const d = action.dnsRequestAction;
    return [h("p", { id: "action-words" }, `A DNS query for ${d.domain}`, d.protocol ? ` over ${d.protocol}` : "", d.blocked ? "; it was blocked." : ".")];
  }
  if (action.portProbeAction) {
    return [h("p", { id: "action-words" }, "Ports probed from outside:"), h("ul", {}, (action.portProbeAction.portProbeDetails || []).map((p) =>
      h("li", {}, `port ${p.localPortDetails.port}${p.localPortDetails.portName ? " (" + p.localPortDetails.portName + ")" : ""} probed by ${where(p.remoteIpDetails)}`)))];
  }
  return [h("p", {}, action.actionType || "")];
}

function resourceFacts(r) {
  if (r.instanceDetails) {
    const i = r.instanceDetails;
    const nic = (i.networkInterfaces || [])[0] || {};
    return facts([["Instance", i.instanceId], ["Type", i.instanceType], ["State", i.instanceState], ["Zone", i.availabilityZone], ["Image", i.imageId],
      ["Private IP", nic.privateIpAddress], ["Public IP", nic.publicIp], ["VPC", nic.vpcId],
      ["Tags", (i.tags || []).map((t) => `${t.key}=${t.value}`).join(", ")]]);
  }
  const key = r.accessKeyDetails ? facts([["Access key", r.accessKeyDetails.accessKeyId], ["User", r.accessKeyDetails.userName],
    ["User type", r.accessKeyDetails.userType], ["Principal", r.accessKeyDetails.principalId]]) : null;
  const buckets = (r.s3BucketDetails || []).map((b) => facts([["Bucket", b.name], ["ARN", b.arn], ["Owner", b.owner && b.owner.id],
    ["Public", b.publicAccess && b.publicAccess.effectivePermission]]));
  return [key, buckets];
}

function evidence(f) {
  const intel = ((f.service.evidence || {}).threatIntelligenceDetails || []);
  if (!intel.length) return null;
  return h("section", { class: "panel", id: "threat-intel" }, h("h2", {}, "Threat intelligence"),
    h("ul", {}, intel.map((t) => h("li", {}, `${t.threatListName}: ${(t.threatNames || []).join(", ")}`))));
}

function anomaly(f) {  // a behaviour finding: what the profile knew beside what was observed
  const a = ((f.service.detection || {}).anomaly);
  if (!a) return null;
  const rows = [];
  for (const [who, features] of Object.entries((a.unusual || {}).behavior || {})) {
    const profile = (a.profiles || {})[who] || {};
    for (const [feature, seen] of Object.entries(features)) {
      const usual = (profile[feature] || []).map((p) => `${(p.observations || {}).text ? p.observations.text.join(", ") : ""} (${p.profileSubtype})`).join("; ");
      rows.push(h("tr", {}, h("td", {}, who), h("td", {}, feature), h("td", {}, usual || "—"),
        h("td", { class: "unusual" }, `${((seen.observations || {}).text || []).join(", ")} (${seen.profileSubtype})`)));
    }
  }
  return h("section", { class: "panel", id: "anomaly" }, h("h2", {}, "Unusual behaviour"),
    h("table", {}, h("thead", {}, h("tr", {}, ["Identity", "Feature", "Profile (usual)", "Observed"].map((x) => h("th", {}, x)))), h("tbody", {}, rows)));
}

async function detailPage(id) {
  let f;
  try {
    f = (await api("GetFindings", { FindingIds: [id] })).findings[0];
  } catch (error) { show(h("h1", {}, "Finding"), problem(error)); return; }
  if (!f) { show(h("h1", {}, "Finding not found"), h("p", {}, "No finding with this id is visible to this account in ", session.region, ".")); return; }
  const status = h("span", { id: "action-status", role: "status" });
  const run = async (operation, input, done) => {
    try { await api(operation, { FindingIds: [f.id], ...input }); status.replaceChildren(h("span", { class: "ok" }, done)); setTimeout(() => location.reload(), 400); }
    catch (error) { status.replaceChildren(problem(error)); }
  };
  let extra = null;
  try { extra = JSON.parse((f.service.additionalInfo || {}).value || "null"); } catch (error) { extra = null; }
  show(
    h("p", {}, link("findings", {}, "« Findings")),
    h("h1", { id: "finding-title" }, badge(f.severity), " ", f.title),
    h("p", { id: "finding-description" }, f.description),
    h("div", { class: "bar" },
      f.service.archived ? h("button", { type: "button", id: "unarchive", onclick: () => run("UnarchiveFindings", {}, "Unarchived.") }, "Unarchive")
        : h("button", { type: "button", id: "archive", onclick: () => run("ArchiveFindings", {}, "Archived.") }, "Archive"),
      h("button", { type: "button", id: "useful", onclick: () => run("UpdateFindingsFeedback", { Feedback: "USEFUL" }, "Thanks: useful.") }, "Useful"),
      h("button", { type: "button", id: "not-useful", onclick: () => run("UpdateFindingsFeedback", { Feedback: "NOT_USEFUL" }, "Thanks: not useful.") }, "Not useful"),
      link("suppress", { finding: f.id }, "Suppress findings like this…"), status),
    h("section", { class: "panel" }, h("h2", {}, "Overview"), facts([["Type", f.type], ["Severity", String(f.severity)], ["Account", f.accountId],
      ["Region", f.region], ["Id", f.id], ["Count", String(f.service.count)], ["First seen", when(f.service.eventFirstSeen)],
      ["Last seen", when(f.service.eventLastSeen)], ["Created", when(f.createdAt)], ["Updated", when(f.updatedAt)],
      ["Archived", f.service.archived ? "yes" : "no"], ["Feedback", f.service.userFeedback]])),
    h("section", { class: "panel", id: "action" }, h("h2", {}, "What happened"), actionInWords(f.service.action)),
    h("section", { class: "panel", id: "resource" }, h("h2", {}, `Resource: ${f.resource.resourceType}`), resourceFacts(f.resource)),
    evidence(f), anomaly(f), occurrences(f),
    h("section", { class: "panel", id: "related" }, h("h2", {}, "Related findings"), h("p", { class: "muted" }, "Loading…")),
    extra && typeof extra === "object" ? h("section", { class: "panel" }, h("h2", {}, "Additional information"),
      facts(Object.entries(extra).map(([k, v]) => [k, typeof v === "string" ? v : JSON.stringify(v)]))) : null,
    h("details", { id: "raw" }, h("summary", {}, "Raw JSON"), h("pre", {}, JSON.stringify(f, null, 2))));
  await related(f);
}

// --- Suppress findings like this --------------------------------------------------------------------------

function indicatorOf(f) {  // the remote address or domain of the action, if any: a narrower rule
  const a = f.service.action || {};
  if (a.awsApiCallAction && a.awsApiCallAction.remoteIpDetails) return ["service.action.awsApiCallAction.remoteIpDetails.ipAddressV4", a.awsApiCallAction.remoteIpDetails.ipAddressV4];
  if (a.networkConnectionAction && a.networkConnectionAction.remoteIpDetails) return ["service.action.networkConnectionAction.remoteIpDetails.ipAddressV4", a.networkConnectionAction.remoteIpDetails.ipAddressV4];
  if (a.dnsRequestAction) return ["service.action.dnsRequestAction.domain", a.dnsRequestAction.domain];
  return null;
}

async function suppressPage() {
  const id = query.get("finding") || "";
  let f;
  try { f = (await api("GetFindings", { FindingIds: [id] })).findings[0]; } catch (error) { show(h("h1", {}, "Suppress"), problem(error)); return; }
  if (!f) { show(h("h1", {}, "Finding not found")); return; }
  const rows = [["type", f.type, true], [RESOURCE_KEYS[f.resource.resourceType], resourceIdOf(f), true], ["accountId", f.accountId, false]];
  const indicator = indicatorOf(f);
  if (indicator && indicator[1]) rows.push([...indicator, false]);
  const conditions = rows.filter(([key, value]) => key && value).map(([key, value, on], i) => h("tr", {},
    h("td", {}, h("input", { type: "checkbox", id: `use-${i}`, "data-key": key, checked: on, "aria-label": `use ${key}` })),
    h("td", {}, h("code", {}, key)), h("td", {}, "equals"),
    h("td", {}, h("input", { id: `value-${i}`, "data-for": `use-${i}`, value, size: 50 }))));
  const name = h("input", { id: "filter-name", value: `like-${f.type.replace(/[^A-Za-z0-9_.-]+/g, "-").slice(0, 40)}-${f.id.slice(0, 6)}`, size: 50, required: true });
  const description = h("input", { id: "filter-description", value: `Suppress ${f.type} on ${resourceIdOf(f)}`.slice(0, 512), size: 60 });
  const action = h("select", { id: "filter-action" }, h("option", { value: "ARCHIVE", selected: true }, "Archive automatically (suppress)"), h("option", { value: "NOOP" }, "Save as a filter only"));
  const status = h("p", { id: "action-status", role: "status" });
  const form = h("form", { id: "suppress-form" },
    h("p", {}, "New findings that match every checked condition are archived as they arrive. Narrow or widen the rule, then save."),
    h("table", {}, h("thead", {}, h("tr", {}, ["Use", "Attribute", "", "Value"].map((x) => h("th", {}, x)))), h("tbody", {}, conditions)),
    h("div", { class: "bar" }, h("label", {}, "Rule name", name), h("label", {}, "Description", description), h("label", {}, "Action", action)),
    h("button", { type: "submit", id: "save-filter" }, "Save rule"), status);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const criterion = {};
    for (const box of form.querySelectorAll("input[data-key]")) {
      if (box.checked) criterion[box.dataset.key] = { eq: [form.querySelector(`[data-for="${box.id}"]`).value] };
    }
    if (!Object.keys(criterion).length) { status.replaceChildren(problem("Check at least one condition.")); return; }
    try {
      await api("CreateFilter", { Name: name.value, Description: description.value, Action: action.value, FindingCriteria: { criterion } });
      status.replaceChildren(h("span", { class: "ok" }, `Rule ${name.value} saved.`), " ", link(`findings/${encodeURIComponent(f.id)}`, {}, "Back to the finding"));
    } catch (error) { status.replaceChildren(problem(error)); }
  });
  show(h("p", {}, link(`findings/${encodeURIComponent(f.id)}`, {}, "« The finding")), h("h1", {}, "Suppress findings like this"),
    h("p", {}, badge(f.severity), " ", f.title), form);
}

// --- start ----------------------------------------------------------------------------------------------

async function main() {
  const response = await fetch("/console/api/session" + (query.get("region") ? "?region=" + encodeURIComponent(query.get("region")) : ""), { credentials: "same-origin" });
  if (response.status === 401) { location.assign("/console/signin?next=" + encodeURIComponent(location.pathname + location.search)); return; }
  if (!response.ok) { show(problem((await response.json()).message || "The console could not start.")); return; }
  session = await response.json();
  header();
  const path = location.pathname.replace(/^\/console\/?/, "");
  try {
    if (path.startsWith("findings/")) await detailPage(decodeURIComponent(path.slice("findings/".length)));
    else if (PAGES[path]) await PAGES[path]();
    else show(h("h1", {}, "Not found"));
    document.title = `${(document.querySelector("h1") || { textContent: "Trailhound" }).textContent} · Trailhound`;
  } catch (error) { show(problem(error)); }
  document.body.dataset.ready = "true";  // for the browser tests: the page has drawn
}

const PAGES = { "": summaryPage, findings: findingsPage, suppress: suppressPage };  // pages.js adds the rest, then starts main()
