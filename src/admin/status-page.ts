// The admin server's live status page: one self-contained HTML document that polls /clusters
// twice a second and listens to /events. Each service shows first what its callers see (calls/s,
// success, failed calls/s by reason, the call's p50/p99 over the last 10 s, as `linkerd viz
// stat` does), then its endpoints (state, share of attempts, success, latency, weight, why it
// is out; figures with no attempt in the last 2 s marked stale), its routes, its clients'
// circuit breakers and retry budget, and a chart of the last two minutes per second (calls/s,
// failed calls/s, each endpoint's attempts/s). Then the mesh's events, repeats coalesced.
export const STATUS_PAGE = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>grpc-meshlite</title>
<style>
  body { font: 14px/1.4 system-ui, sans-serif; margin: 1.5rem; color: #1d1d1f; background: #fafafa; }
  h1 { font-size: 1.3rem; margin: 0 0 .2rem; } h2 { font-size: 1.1rem; margin: 1.6rem 0 .4rem; }
  h2 .meta { font-weight: normal; margin-left: .6rem; }
  .meta { color: #666; font-size: .85rem; }
  table { border-collapse: collapse; background: #fff; margin-top: .5rem; }
  th, td { padding: .35rem .6rem; border-bottom: 1px solid #e5e5e5; text-align: left; vertical-align: top; }
  td { white-space: nowrap; }
  th { font-weight: 600; font-size: .8rem; color: #555; }
  th small { display: block; font-weight: normal; color: #888; }
  td.num { text-align: right; font-variant-numeric: tabular-nums; }
  .status { display: inline-block; padding: .05rem .5rem; border-radius: .7rem; font-size: .8rem; font-weight: 600; }
  .ok { background: #d8f5dd; color: #145a22; } .warn { background: #fff0c2; color: #6b4e00; } .bad { background: #ffd9d6; color: #8a1c12; }
  td.why, td.reasons { color: #8a1c12; white-space: normal; overflow-wrap: anywhere; min-width: 14rem; max-width: 32rem; }
  td.reasons div { margin: .05rem 0; }
  tr.stale td.figure, td.stale { color: #999; font-style: italic; }
  table.calls td.success.failing { color: #8a1c12; font-weight: 700; }
  svg { background: #fff; border: 1px solid #e5e5e5; margin-top: .5rem; display: block; }
  svg text { font: 10px system-ui, sans-serif; fill: #666; }
  #events { list-style: none; padding: 0; margin: 0; max-height: 24rem; overflow-y: auto; background: #fff; border: 1px solid #e5e5e5; }
  #events li { padding: .25rem .6rem; border-bottom: 1px solid #f0f0f0; font-size: .85rem; overflow-wrap: anywhere; }
  #events .t { color: #888; margin-right: .6rem; font-variant-numeric: tabular-nums; }
  #events .n { display: inline-block; margin-left: .4rem; padding: 0 .4rem; border-radius: .6rem; background: #eee; color: #444; font-size: .8rem; }
  .legend span { margin-right: 1rem; font-size: .85rem; }
</style>
</head>
<body>
<h1>grpc-meshlite</h1>
<div class="meta" id="updated">connecting…</div>
<div id="services"></div>
<h2>Events <span class="meta">newest first; repeats of the same thing within a minute are one line with a count</span></h2>
<ul id="events"></ul>
<script>
const COLORS = ['#1f6feb', '#1a7f37', '#9a6700', '#8250df', '#bf3989', '#0a7ea4'];
const GOOD = ['in-rotation'], MEH = ['slow-start', 'probing', 'starting', 'leaving'];
let windowS = 10;
function badge(status) {
  const cls = GOOD.includes(status) ? 'ok' : MEH.includes(status) ? 'warn' : 'bad';
  return '<span class="status ' + cls + '">' + status + '</span>';
}
// Near the ends a rounded figure would hide what matters: 99.6 % is not 100 %, 0.4 % is not 0.
function pct(x) {
  if (x === null || x === undefined) return '–';
  if (x === 0 || x === 1) return x * 100 + ' %';
  if (x < 0.01) return '<1 %';
  if (x > 0.99) return (Math.floor(x * 1000) / 10).toFixed(1) + ' %';
  return Math.round(x * 100) + ' %';
}
function ms(x) { return x === null || x === undefined ? '–' : x + ' ms'; }
function rate(x) { return x === null || x === undefined ? '–' : (x >= 100 ? Math.round(x) : x.toFixed(1)); }
function hhmmss(t) { return new Date(t).toLocaleTimeString([], { hour12: false }); }
function esc(s) { return String(s ?? '').replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c]); }
function th(name, window) { return '<th>' + name + (window ? '<small>' + window + '</small>' : '') + '</th>'; }
function why(e) {
  // Connectivity first: an endpoint that lost its connection is down whatever its ejection says.
  if (e.status === 'disconnected') {
    const lost = e.lastError || 'not connected';
    return e.ejection !== 'admitted' ? lost + ' (also ' + e.ejection + ': ' + (e.ejectionReason || '') + ')' : lost;
  }
  if (e.ejection !== 'admitted') return e.ejectionReason || e.ejection;
  if (e.status === 'not-serving' || e.status === 'health-failing') return e.healthDetail;
  if (e.status === 'leaving') return 'removed from the config; serves until a new endpoint is usable';
  return (e.methods || []).map((m) => m.method + ' ejected: ' + m.reason).join('; ');
}
// What the service's callers see, as linkerd viz stat's line: every call as it ended for the
// caller — retried, refused by an open breaker, failed for want of an endpoint.
function callerLine(s) {
  const c = s.calls;
  if (!c) return '';
  const head = '<table class="calls" data-service="' + esc(s.service) + '"><thead><tr><th>callers of ' + esc(s.service) + '</th>' +
    th('calls/s', 'last ' + windowS + ' s') + th('success', 'last ' + windowS + ' s') + th('failed calls/s', 'last ' + windowS + ' s') +
    th('p50 / p99 of the call', 'last ' + windowS + ' s, retries included') + th('failed calls by reason', 'per second, last ' + windowS + ' s') + '</tr></thead><tbody>';
  if (c.calls === 0) {
    return head + '<tr><td>all clients</td><td class="num rate">0</td><td class="success stale" colspan="4">no calls in the last ' + windowS + ' s</td></tr></tbody></table>';
  }
  const failing = c.successRate !== null && c.successRate < 0.95;
  const stale = c.stale ? ' <span class="stale">(stale: no call for ' + Math.round(c.lastCallAgoMs / 1000) + ' s)</span>' : '';
  const reasons = c.failures.map((f) => '<div data-reason="' + esc(f.reason) + '">' + rate(f.perSecond) + '/s ' + esc(f.reason) + '</div>').join('') || '<span class="meta">none</span>';
  return head + '<tr' + (c.stale ? ' class="stale"' : '') + '><td>all clients' + stale + '</td>' +
    '<td class="num rate figure">' + rate(c.perSecond) + '</td>' +
    '<td class="num success figure' + (failing ? ' failing' : '') + '">' + pct(c.successRate) + '</td>' +
    '<td class="num failed figure">' + rate(c.failedPerSecond) + '</td>' +
    '<td class="num latency figure">' + ms(c.p50Ms) + ' / ' + ms(c.p99Ms) + '</td>' +
    '<td class="reasons">' + reasons + '</td></tr></tbody></table>';
}
function endpointRow(e, share) {
  const r = e.recent;
  // Attempts in the window but none of late: the figures are the past, not now.
  const figures = r.stale
    ? '<td class="num share figure">–</td><td class="num figure">–</td><td class="success stale">stale: no attempt for ' + Math.round(r.lastAttemptAgoMs / 1000) + ' s</td><td class="num figure">–</td>'
    : '<td class="num share figure">' + pct(share) + '</td><td class="num figure">' + rate(r.perSecond) + '</td>' +
      '<td class="num success figure">' + pct(r.successRate) + '</td><td class="num figure">' + ms(r.p50Ms) + ' / ' + ms(r.p99Ms) + '</td>';
  return '<tr data-endpoint="' + esc(e.name) + '"' + (r.stale ? ' class="stale"' : '') + '>' +
    '<td>' + esc(e.name) + '</td><td>' + esc(e.address) + '</td>' +
    '<td class="state">' + badge(e.status) + '</td>' + figures +
    '<td class="num">' + Math.round(e.effectiveWeight) + ' / ' + e.weight + '</td>' +
    '<td class="num">' + e.priority + '</td>' +
    '<td class="num">' + e.inFlight + '</td>' +
    '<td class="why">' + esc(why(e)) + '</td></tr>';
}
const BREAKER_CLASS = { closed: 'ok', 'half-open': 'warn', open: 'bad' };
// The clients' circuit breakers for the service: an open one fails calls at once, whatever the
// endpoints' states say.
function breakers(service, clients) {
  const rows = [];
  let windowMs;
  for (const c of clients.filter((c) => c.service === service)) {
    for (const [key, b] of Object.entries(c.breakers)) {
      windowMs = b.windowMs;
      rows.push('<tr data-breaker="' + esc(key) + '"><td>' + esc(key) + '</td><td class="state"><span class="status ' + BREAKER_CLASS[b.state] + '">' + esc(b.state) + '</span></td>' +
        '<td class="num">' + b.calls + '</td><td class="num">' + b.failures + '</td><td class="num refused">' + b.rejected + '</td><td class="num opened">' + b.opened + '</td>' +
        '<td class="num">' + (c.budget ? c.budget.available + ' <span class="meta">(' + c.budget.refused + ' refused in all)</span>' : '–') + '</td></tr>');
    }
  }
  if (rows.length === 0) return '';
  const w = windowMs ? 'rolling, last ' + windowMs / 1000 + ' s' : 'rolling window';
  return '<table class="breakers"><thead><tr><th>client circuit breaker</th><th>state</th>' + th('calls', w) + th('failed', w) + th('refused while open', w) +
    th('times opened', 'total, since the client was made') + th('retry budget left', 'now') + '</tr></thead><tbody>' + rows.join('') + '</tbody></table>';
}
// The service's routes: where each sends its calls, by weight and in fact (the balancer's last
// 1,000 picks of the route), and the calls that found their subset with no usable endpoint.
const SUBSET_CLASS = { serving: 'ok', waiting: 'warn', unusable: 'bad' };
function routes(s) {
  const state = {};
  for (const subset of s.subsets || []) state[subset.name] = subset.state;
  const rows = [];
  for (const r of s.routes || []) {
    const destinations = r.destinations.length > 0 ? r.destinations : [null];
    destinations.forEach((d, i) => {
      rows.push('<tr data-route="' + esc(r.name) + '"' + (d ? ' data-subset="' + esc(d.subset) + '"' : '') + '>' +
        '<td>' + (i === 0 ? esc(r.name) + ' <span class="meta">(' + r.picks + ' picks, fallback ' + esc(r.fallback) + ')</span>' : '') + '</td>' +
        (d
          ? '<td>' + esc(d.subset) + ' <span class="status ' + (SUBSET_CLASS[state[d.subset]] || 'warn') + '">' + esc(state[d.subset] || '?') + '</span></td>' +
            '<td class="num">' + d.configuredShare + ' %</td><td class="num actual">' + (d.actualShare === undefined ? '–' : d.actualShare + ' %') + '</td><td class="num">' + d.fallbacks + '</td>'
          : '<td>the whole service</td><td class="num">100 %</td><td class="num">–</td><td class="num">–</td>') + '</tr>');
    });
  }
  const zone = s.zone ? '<div class="meta">client zone ' + esc(s.zone) + ': calls stay there while it has the capacity</div>' : '';
  if (rows.length === 0) return zone;
  return zone + '<table class="routes"><thead><tr><th>route</th><th>destination</th><th>configured</th>' + th('actual', 'last 1,000 picks') +
    th('fallbacks', 'total') + '</tr></thead><tbody>' + rows.join('') + '</tbody></table>';
}
function niceMax(x) {
  if (x <= 5) return 5;
  const p = Math.pow(10, Math.floor(Math.log10(x)));
  for (const m of [1, 2, 2.5, 5, 10]) if (m * p >= x) return m * p;
  return 10 * p;
}
// The last two minutes, one point per second: calls/s the callers made, failed calls/s (red
// bars: a fault of a few seconds shows as a few bars), and each endpoint's attempts/s.
function chart(s) {
  const h = s.history;
  if (!h) return '';
  const n = h.calls.length;
  const W = 760, H = 170, left = 44, right = 12, top = 10, bottom = 22;
  const pw = W - left - right, ph = H - top - bottom;
  const max = niceMax(Math.max(1, ...h.calls, ...s.endpoints.map((e) => Math.max(0, ...(e.history || [])))));
  const x = (i) => left + (pw * (i + 0.5)) / n;
  const y = (v) => top + ph - (ph * v) / max;
  const parts = [];
  for (const v of [0, max / 2, max]) {
    parts.push('<line x1="' + left + '" x2="' + (W - right) + '" y1="' + y(v).toFixed(1) + '" y2="' + y(v).toFixed(1) + '" stroke="#eee"/>');
    parts.push('<text x="' + (left - 4) + '" y="' + (y(v) + 3).toFixed(1) + '" text-anchor="end">' + v + '</text>');
  }
  parts.push('<text x="4" y="' + (top + 24) + '">/s</text>');
  const barW = Math.max(1, pw / n - 1);
  h.failed.forEach((v, i) => {
    if (v > 0) parts.push('<rect class="failed-bar" x="' + (x(i) - barW / 2).toFixed(1) + '" y="' + y(v).toFixed(1) + '" width="' + barW.toFixed(1) + '" height="' + (ph * v / max).toFixed(1) + '" fill="#d1242f" opacity=".75"/>');
  });
  const line = (values, color, width) => '<polyline fill="none" stroke-width="' + width + '" stroke="' + color + '" points="' +
    values.map((v, i) => x(i).toFixed(1) + ',' + y(v).toFixed(1)).join(' ') + '"/>';
  s.endpoints.forEach((e, i) => { if (e.history) parts.push(line(e.history, COLORS[i % COLORS.length], 1.2)); });
  parts.push(line(h.calls, '#1d1d1f', 2));
  // Time axis: a tick every 30 s, labelled with the wall-clock time; "now" at the right.
  for (let k = 0; k <= n; k += 30) {
    const t = h.end - (n - k) * 1000;
    const px = left + (pw * k) / n;
    parts.push('<line x1="' + px.toFixed(1) + '" x2="' + px.toFixed(1) + '" y1="' + (top + ph) + '" y2="' + (top + ph + 4) + '" stroke="#999"/>');
    parts.push('<text x="' + px.toFixed(1) + '" y="' + (H - 6) + '" text-anchor="' + (k === 0 ? 'start' : k === n ? 'end' : 'middle') + '">' + (k === n ? 'now' : hhmmss(t)) + '</text>');
  }
  const legend = '<span>— calls/s (callers)</span><span style="color:#d1242f">▮ failed calls/s</span>' +
    s.endpoints.map((e, i) => '<span style="color:' + COLORS[i % COLORS.length] + '">— ' + esc(e.name) + ' attempts/s</span>').join('');
  return '<div class="legend">last ' + n + ' s, per second: ' + legend + '</div><svg class="chart" width="' + W + '" height="' + H + '" viewBox="0 0 ' + W + ' ' + H + '">' + parts.join('') + '</svg>';
}
function render(data) {
  windowS = data.windowMs / 1000;
  document.getElementById('updated').textContent = 'updated ' + hhmmss(data.at) + ' · tables: the last ' + windowS + ' s (stale: no attempt in the last 2 s) · chart: the last ' + (data.historySeconds || 120) + ' s, per second';
  const html = data.services.map((s) => {
    const total = s.endpoints.reduce((sum, e) => sum + e.recent.attempts, 0);
    const rows = s.endpoints.map((e) => endpointRow(e, total === 0 ? null : e.recent.attempts / total)).join('');
    const w = 'last ' + windowS + ' s';
    return '<h2>' + esc(s.service) + ' <span class="meta">channel ' + esc(s.state) + '</span></h2>' + callerLine(s) +
      '<table class="endpoints"><thead><tr><th>endpoint</th><th>address</th><th>state</th>' + th('share', 'of attempts, ' + w) + th('attempts/s', w) +
      th('success', 'of attempts, ' + w) + th('p50 / p99', 'of attempts, ' + w) + th('weight', 'effective / set') + '<th>priority</th>' + th('in flight', 'now') +
      '<th>why</th></tr></thead><tbody>' + rows + '</tbody></table>' + routes(s) + breakers(s.service, data.clients || []) + chart(s);
  }).join('');
  document.getElementById('services').innerHTML = html || '<p>No service has a client yet.</p>';
}
async function poll() {
  try { render(await (await fetch('/clusters')).json()); } catch (e) { document.getElementById('updated').textContent = 'admin server unreachable'; }
}
poll();
setInterval(poll, 500);
function describe(e) {
  return e.type === 'endpoint' ? e.service + ' ' + e.endpoint + ' ' + e.kind + (e.method ? ' (' + e.method + ')' : '') + ': ' + e.reason
    : e.type === 'failover' ? e.service + ' failover: ' + e.reason
    : e.type === 'routing' ? e.service + ' route ' + e.route + ' → ' + e.subset + ' ' + e.kind + ': ' + e.reason
    : e.type === 'discovery' ? e.service + ' discovery ' + e.kind + ': ' + e.reason
    : e.type === 'breaker' ? e.service + ' circuit breaker ' + e.breaker + ' ' + e.state + ' (was ' + e.previous + ')'
    : 'config ' + e.kind + ' (' + e.source + ')' + (e.reason ? ': ' + e.reason : '');
}
// One line per entry: a repeat (the same kind of event about the same subject) updates its
// line — count, time range, latest state — and moves it to the top.
const lines = new Map();
const events = new EventSource('/events');
events.onmessage = (m) => {
  const e = JSON.parse(m.data);
  const key = e.entry || m.lastEventId;
  let li = lines.get(key);
  if (!li) { li = document.createElement('li'); lines.set(key, li); }
  li.dataset.count = e.count || 1;
  li.dataset.type = e.type;
  const repeated = e.count > 1;
  const when = repeated ? hhmmss(e.firstAt) + '–' + hhmmss(e.at) : hhmmss(e.at);
  const text = e.type === 'breaker' && repeated
    ? e.service + ' circuit breaker ' + e.breaker + ' flapped: ' + e.count + ' transitions, now ' + e.state + ' (first: ' + e.first.state + ', was ' + e.first.previous + ')'
    : describe(e) + (repeated && e.first && describe(e.first) !== describe(e) ? ' (first: ' + describe(e.first) + ')' : '');
  li.innerHTML = '<span class="t">' + when + '</span>' + esc(text) + (repeated ? '<span class="n">×' + e.count + '</span>' : '');
  const list = document.getElementById('events');
  list.prepend(li);
  while (list.children.length > 100) { const last = list.lastChild; for (const [k, v] of lines) if (v === last) lines.delete(k); last.remove(); }
};
</script>
</body>
</html>
`;
