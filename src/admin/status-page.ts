// The admin server's live status page: one self-contained HTML document that polls /clusters
// twice a second and listens to /events. Each service shows its endpoints (state, share of the
// last 10 s, success rate, latency, weight, why it is out), its routes (each destination's
// configured and actual share, fallbacks), its clients' circuit breakers and retry budget, the
// share of traffic over the last minute as a chart, and the mesh's events (the recent ones
// first, then as they happen).
export const STATUS_PAGE = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>grpc-meshlite</title>
<style>
  body { font: 14px/1.4 system-ui, sans-serif; margin: 1.5rem; color: #1d1d1f; background: #fafafa; }
  h1 { font-size: 1.3rem; margin: 0 0 .2rem; } h2 { font-size: 1.1rem; margin: 1.4rem 0 .4rem; }
  .meta { color: #666; font-size: .85rem; }
  table { border-collapse: collapse; background: #fff; min-width: 60rem; }
  th, td { padding: .35rem .6rem; border-bottom: 1px solid #e5e5e5; text-align: left; white-space: nowrap; }
  th { font-weight: 600; font-size: .8rem; color: #555; }
  td.num { text-align: right; font-variant-numeric: tabular-nums; }
  .status { display: inline-block; padding: .05rem .5rem; border-radius: .7rem; font-size: .8rem; font-weight: 600; }
  .ok { background: #d8f5dd; color: #145a22; } .warn { background: #fff0c2; color: #6b4e00; } .bad { background: #ffd9d6; color: #8a1c12; }
  .why { color: #8a1c12; max-width: 28rem; overflow: hidden; text-overflow: ellipsis; }
  svg { background: #fff; border: 1px solid #e5e5e5; margin-top: .5rem; }
  table.breakers, table.routes { margin-top: .5rem; min-width: 0; }
  #events { list-style: none; padding: 0; margin: 0; max-height: 18rem; overflow-y: auto; background: #fff; border: 1px solid #e5e5e5; }
  #events li { padding: .25rem .6rem; border-bottom: 1px solid #f0f0f0; font-size: .85rem; }
  #events .t { color: #888; margin-right: .6rem; font-variant-numeric: tabular-nums; }
  .legend span { margin-right: 1rem; font-size: .85rem; }
</style>
</head>
<body>
<h1>grpc-meshlite</h1>
<div class="meta" id="updated">connecting…</div>
<div id="services"></div>
<h2>Events</h2>
<ul id="events"></ul>
<script>
const COLORS = ['#1f6feb', '#d1242f', '#1a7f37', '#9a6700', '#8250df', '#bf3989'];
const history = {}; // service -> [{ at, shares: { address: share } }] (a name may move to a new address)
const GOOD = ['in-rotation'], MEH = ['slow-start', 'probing', 'starting', 'leaving'];
function badge(status) {
  const cls = GOOD.includes(status) ? 'ok' : MEH.includes(status) ? 'warn' : 'bad';
  return '<span class="status ' + cls + '">' + status + '</span>';
}
function pct(x) { return x === null || x === undefined ? '–' : Math.round(x * 100) + ' %'; }
function ms(x) { return x === null || x === undefined ? '–' : x + ' ms'; }
function esc(s) { return String(s ?? '').replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c]); }
function why(e) {
  if (e.ejection !== 'admitted') return e.ejectionReason || e.ejection;
  if (e.status === 'not-serving' || e.status === 'health-failing') return e.healthDetail;
  if (e.status === 'disconnected') return e.lastError || 'not connected';
  if (e.status === 'leaving') return 'removed from the config; serves until a new endpoint is usable';
  return (e.methods || []).map((m) => m.method + ' ejected: ' + m.reason).join('; ');
}
const BREAKER_CLASS = { closed: 'ok', 'half-open': 'warn', open: 'bad' };
// The clients' circuit breakers for the service: an open one fails calls at once, whatever the
// endpoints' states say (in a total outage the table above still shows their last successes).
function breakers(service, clients) {
  const rows = [];
  for (const c of clients.filter((c) => c.service === service)) {
    for (const [key, b] of Object.entries(c.breakers)) {
      rows.push('<tr data-breaker="' + esc(key) + '"><td>' + esc(key) + '</td><td class="state"><span class="status ' + BREAKER_CLASS[b.state] + '">' + esc(b.state) + '</span></td>' +
        '<td class="num">' + b.calls + '</td><td class="num">' + b.failures + '</td><td class="num">' + b.rejected + '</td><td class="num">' + b.opened + '</td>' +
        '<td class="num">' + (c.budget ? c.budget.available + ' (' + c.budget.refused + ' refused)' : '–') + '</td></tr>');
    }
  }
  if (rows.length === 0) return '';
  return '<table class="breakers"><thead><tr><th>client circuit breaker</th><th>state</th><th>calls</th><th>failed</th><th>refused while open</th><th>times opened</th><th>retry budget left</th></tr></thead><tbody>' + rows.join('') + '</tbody></table>';
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
  return zone + '<table class="routes"><thead><tr><th>route</th><th>destination</th><th>configured</th><th>actual</th><th>fallbacks</th></tr></thead><tbody>' + rows.join('') + '</tbody></table>';
}
function chart(service, endpoints) {
  const points = history[service] || [];
  const w = 600, h = 120, n = 120;
  const lines = endpoints.map((e, i) => {
    const coords = points.map((p, k) => {
      const x = (w * (n - points.length + k)) / (n - 1);
      const y = h - 4 - (h - 8) * (p.shares[e.address] || 0);
      return x.toFixed(1) + ',' + y.toFixed(1);
    });
    return '<polyline fill="none" stroke-width="2" stroke="' + COLORS[i % COLORS.length] + '" points="' + coords.join(' ') + '"/>';
  });
  const legend = endpoints.map((e, i) => '<span style="color:' + COLORS[i % COLORS.length] + '">■ ' + esc(e.name) + '</span>').join('');
  return '<div class="legend">share of attempts over the last minute: ' + legend + '</div><svg width="' + w + '" height="' + h + '" viewBox="0 0 ' + w + ' ' + h + '">' + lines.join('') + '</svg>';
}
function render(data) {
  document.getElementById('updated').textContent = 'updated ' + new Date(data.at).toLocaleTimeString() + ' · attempts over the last ' + data.windowMs / 1000 + ' s';
  const html = data.services.map((s) => {
    const total = s.endpoints.reduce((sum, e) => sum + e.recent.attempts, 0);
    const shares = {};
    for (const e of s.endpoints) shares[e.address] = total === 0 ? 0 : e.recent.attempts / total;
    const list = (history[s.service] = history[s.service] || []);
    list.push({ at: data.at, shares });
    if (list.length > 120) list.shift();
    const rows = s.endpoints.map((e) =>
      '<tr data-endpoint="' + esc(e.name) + '">' +
      '<td>' + esc(e.name) + '</td><td>' + esc(e.address) + '</td>' +
      '<td class="state">' + badge(e.status) + '</td>' +
      '<td class="num share">' + pct(shares[e.address]) + '</td>' +
      '<td class="num">' + pct(e.recent.successRate) + '</td>' +
      '<td class="num">' + ms(e.recent.p50Ms) + ' / ' + ms(e.recent.p99Ms) + '</td>' +
      '<td class="num">' + Math.round(e.effectiveWeight) + ' / ' + e.weight + '</td>' +
      '<td class="num">' + e.priority + '</td>' +
      '<td class="num">' + e.inFlight + '</td>' +
      '<td class="why" title="' + esc(why(e)) + '">' + esc(why(e)) + '</td></tr>').join('');
    return '<h2>' + esc(s.service) + '</h2><table><thead><tr><th>endpoint</th><th>address</th><th>state</th><th>share</th><th>success</th><th>p50 / p99</th><th>weight (effective / set)</th><th>priority</th><th>in flight</th><th>why</th></tr></thead><tbody>' +
      rows + '</tbody></table>' + routes(s) + breakers(s.service, data.clients || []) + chart(s.service, s.endpoints);
  }).join('');
  document.getElementById('services').innerHTML = html || '<p>No service has a client yet.</p>';
}
async function poll() {
  try { render(await (await fetch('/clusters')).json()); } catch (e) { document.getElementById('updated').textContent = 'admin server unreachable'; }
}
poll();
setInterval(poll, 500);
const events = new EventSource('/events');
events.onmessage = (m) => {
  const e = JSON.parse(m.data);
  const li = document.createElement('li');
  const text = e.type === 'endpoint' ? e.service + ' ' + e.endpoint + ' ' + e.kind + (e.method ? ' (' + e.method + ')' : '') + ': ' + e.reason
    : e.type === 'failover' ? e.service + ' failover: ' + e.reason
    : e.type === 'routing' ? e.service + ' route ' + e.route + ' → ' + e.subset + ' ' + e.kind + ': ' + e.reason
    : e.type === 'discovery' ? e.service + ' discovery ' + e.kind + ': ' + e.reason
    : e.type === 'breaker' ? e.service + ' circuit breaker ' + e.breaker + ' ' + e.state + ' (was ' + e.previous + ')'
    : 'config ' + e.kind + ' (' + e.source + ')' + (e.reason ? ': ' + e.reason : '');
  li.innerHTML = '<span class="t">' + new Date(e.at).toLocaleTimeString() + '</span>' + esc(text);
  const list = document.getElementById('events');
  list.prepend(li);
  while (list.children.length > 50) list.lastChild.remove();
};
</script>
</body>
</html>
`;
