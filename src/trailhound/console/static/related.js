// A finding's occurrences over time and its related findings, for the detail page (console.js).
"use strict";

function occurrences(f) {
  const seq = ((f.service.detection || {}).sequence);
  const spans = [{ label: "this finding", first: f.service.eventFirstSeen, last: f.service.eventLastSeen, count: f.service.count }];
  for (const sig of (seq && seq.signals) || []) spans.push({ label: sig.name, first: sig.firstSeenAt, last: sig.lastSeenAt, count: sig.count });
  return h("section", { class: "panel", id: "occurrences" }, h("h2", {}, "Occurrences over time"),
    h("p", {}, `${f.service.count} occurrence${f.service.count === 1 ? "" : "s"} from ${when(f.service.eventFirstSeen)} to ${when(f.service.eventLastSeen)}`,
      seq ? `; the sequence's ${seq.signals.length} signals below it.` : "."),
    timeline("occurrence-chart", spans));
}

const SEQUENCE_TYPES = ["AttackSequence:IAM/CompromisedCredentials", "AttackSequence:S3/CompromisedData"];

async function findingsWhere(criterion, max) {
  const ids = (await api("ListFindings", { FindingCriteria: { criterion }, SortCriteria: { attributeName: "updatedAt", orderBy: "DESC" }, MaxResults: max })).findingIds || [];
  return ids.length ? (await api("GetFindings", { FindingIds: ids })).findings : [];
}

function mentions(seq, f) {  // an attack sequence whose actor is this finding's access key, or whose resources include its bucket
  // (a shared remote address alone is "same remote address" above: an attacker's VPS serves many identities)
  const text = JSON.stringify([seq.actors, seq.resources, (seq.signals || []).map((x) => x.resourceUids)]);
  const ak = (f.resource.accessKeyDetails || {}).accessKeyId;
  return [ak, ...(f.resource.s3BucketDetails || []).map((b) => `arn:aws:s3:::${b.name}`)].some((v) => v && text.includes(JSON.stringify(v)));
}

async function related(f) {
  const others = { id: { neq: [f.id] } };
  const groups = [];
  const rkey = RESOURCE_KEYS[f.resource.resourceType], rid = resourceIdOf(f);
  if (rkey && rid) groups.push(["Same resource", "related-resource", findingsWhere({ ...others, [rkey]: { eq: [rid] } }, 10)]);
  const ind = indicatorOf(f);
  if (ind && ind[1] && ind[0].endsWith("ipAddressV4")) {
    const keys = ["service.action.awsApiCallAction.remoteIpDetails.ipAddressV4", "service.action.networkConnectionAction.remoteIpDetails.ipAddressV4"];
    groups.push(["Same remote address " + ind[1], "related-ip", Promise.all(keys.map((k) => findingsWhere({ ...others, [k]: { eq: [ind[1]] } }, 10)))
      .then((lists) => [...new Map(lists.flat().map((x) => [x.id, x])).values()])]);
  }
  if (!SEQUENCE_TYPES.includes(f.type)) {
    groups.push(["Attack sequences that include it", "related-sequences",
      findingsWhere({ type: { eq: SEQUENCE_TYPES }, accountId: { eq: [f.accountId] } }, 50).then((all) => all.filter((x) => mentions(x.service.detection.sequence || {}, f)))]);
  }
  const box = document.getElementById("related");
  const parts = [h("h2", {}, "Related findings")];
  for (const [title, id, pending] of groups) {
    let found;
    try { found = await pending; } catch (error) { parts.push(h("h3", {}, title), problem(error)); continue; }
    parts.push(h("h3", {}, title), found.length ? h("ul", { id }, found.map((x) => h("li", { "data-id": x.id }, badge(x.severity), " ",
      link(`findings/${encodeURIComponent(x.id)}`, {}, x.title || x.type), h("span", { class: "muted" }, ` ${x.type} · ${when(x.updatedAt)}`))))
      : h("p", { class: "muted", id }, "None."));
  }
  box.replaceChildren(...parts);
}
