/**
 * `--report drill.html`: one self-contained page a person can open anywhere, offline. Per scenario:
 * the verdict, four timelines (devices connected per instance, messages per second each way,
 * reconnections, RTT p95) with the moment of each operation marked, and the target table. The tables
 * are HTML written here, readable without script; the charts are SVG drawn by the page's own inline
 * script from the figures embedded in it. Nothing is fetched: no CDN, no font, no image.
 */
import { type Check, DRILL_TARGETS, type ScenarioResult } from './result.js';

const escapeHtml = (s: string) =>
  s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);

function checkRow(c: Check): string {
  const result = c.ok === null ? (c.target ? 'n/a' : '') : c.ok ? 'OK' : 'MISSED';
  const cls = c.ok === null ? 'info' : c.ok ? 'ok' : 'missed';
  const cells = [c.name, c.drill, c.gateway, c.target].map((v) => `<td>${escapeHtml(v)}</td>`).join('');
  return `<tr class="${cls}">${cells}<td class="result">${result}</td></tr>`;
}

function section(r: ScenarioResult, index: number): string {
  const f = r.figures;
  const missing = f.deviceToApp.missing + f.appToDevice.missing;
  const summary = `${f.deviceToApp.sent + f.appToDevice.sent} messages, ${missing} missing, ${f.reconnections.length} reconnections`;
  const problems = [
    ...(r.error ? [`did not complete: ${r.error}`] : []),
    ...r.disagreements.map((d) => `the drill and the gateway disagree: ${d}`),
  ];
  return `
<section class="scenario" id="${escapeHtml(r.scenario)}">
  <h2><span class="badge ${r.ok ? 'ok' : 'missed'}">${r.ok ? 'ZERO DROPS' : 'FAILED'}</span> ${escapeHtml(r.title)}</h2>
  <p class="meta">${r.devices} devices, ${r.durationS} s, ${r.ratePerS} message/s per device each way, started ${escapeHtml(r.startedAt)}, machine load average ${r.loadAverage.map((l) => l.toFixed(1)).join(' → ')}: ${escapeHtml(summary)}</p>
  <div class="charts" data-scenario="${index}">
    <figure data-chart="connections"></figure>
    <figure data-chart="messages"></figure>
    <figure data-chart="reconnects"></figure>
    <figure data-chart="rtt"></figure>
  </div>
  <table class="checks">
    <thead><tr><th>check</th><th>drill</th><th>gateway</th><th>target</th><th>result</th></tr></thead>
    <tbody>${r.checks.map(checkRow).join('')}</tbody>
  </table>
  ${problems.length === 0 ? '<p class="agree">The drill’s own counts and the gateway’s counters agree.</p>' : `<ul class="problems">${problems.map((p) => `<li>${escapeHtml(p)}</li>`).join('')}</ul>`}
  <ol class="marks">${r.marks.map((m) => `<li>${m.t.toFixed(1)} s: ${escapeHtml(m.label)}</li>`).join('')}</ol>
</section>`;
}

const STYLE = `
body { font: 14px/1.45 system-ui, sans-serif; color: #1b1f24; margin: 24px auto; max-width: 1240px; padding: 0 16px; }
h1 { font-size: 22px; margin-bottom: 4px; }
h2 { font-size: 18px; margin: 28px 0 4px; }
.meta, .marks, .agree { color: #555; margin: 4px 0; }
ol.marks { columns: 2; font-size: 13px; }
.badge { font-size: 12px; padding: 2px 8px; border-radius: 10px; color: #fff; vertical-align: middle; }
.badge.ok { background: #1a7f37; } .badge.missed { background: #cf222e; }
.charts { display: grid; grid-template-columns: repeat(2, minmax(0, 1fr)); gap: 8px 24px; margin: 12px 0; }
figure { margin: 0; } figcaption { font-weight: 600; font-size: 13px; }
svg { width: 100%; height: auto; overflow: visible; }
svg text { font-size: 10px; fill: #555; }
table.checks { border-collapse: collapse; width: 100%; font-size: 13px; }
table.checks th, table.checks td { text-align: left; padding: 3px 8px; border-bottom: 1px solid #e5e7eb; vertical-align: top; }
tr.missed td { background: #ffebe9; } td.result { font-weight: 600; }
tr.ok td.result { color: #1a7f37; } tr.missed td.result { color: #cf222e; }
ul.problems { color: #cf222e; }
.legend span { margin-right: 12px; font-size: 12px; } .legend i { display: inline-block; width: 12px; height: 3px; vertical-align: middle; margin-right: 4px; }
`;

/** Draws the charts from the embedded figures: plain DOM and SVG, no library. */
const SCRIPT = `
(function () {
  var data = JSON.parse(document.getElementById('drill-data').textContent);
  var NS = 'http://www.w3.org/2000/svg';
  var W = 560, H = 190, L = 44, R = 12, T = 26, B = 24;
  var PALETTE = { app: '#0969da', app_replica: '#e16f24', other: '#8250df' };
  function el(name, attrs, parent) {
    var e = document.createElementNS(NS, name);
    for (var k in attrs) e.setAttribute(k, attrs[k]);
    if (parent) parent.appendChild(e);
    return e;
  }
  function niceMax(v) {
    if (!(v > 0)) return 1;
    var p = Math.pow(10, Math.floor(Math.log10(v)));
    var steps = [1, 2, 2.5, 5, 10];
    for (var i = 0; i < steps.length; i++) if (steps[i] * p >= v) return steps[i] * p;
    return 10 * p;
  }
  function chart(figure, title, scenario, series, opts) {
    var caption = document.createElement('figcaption');
    caption.textContent = title;
    figure.appendChild(caption);
    var svg = el('svg', { viewBox: '0 0 ' + W + ' ' + H, role: 'img', 'aria-label': title }, figure);
    var tl = scenario.timeline;
    var tMax = Math.max(1, tl.length ? tl[tl.length - 1].t : 1);
    var yMax = niceMax(Math.max.apply(null, [opts.floor || 0].concat(series.map(function (s) {
      return Math.max.apply(null, [0].concat(tl.map(s.value).filter(function (v) { return v !== null; })));
    }))));
    var x = function (t) { return L + (t / tMax) * (W - L - R); };
    var y = function (v) { return H - B - (v / yMax) * (H - T - B); };
    for (var i = 0; i <= 4; i++) {
      var v = (yMax * i) / 4, yy = y(v);
      el('line', { x1: L, x2: W - R, y1: yy, y2: yy, stroke: '#eaeef2' }, svg);
      el('text', { x: L - 6, y: yy + 3, 'text-anchor': 'end' }, svg).textContent = +v.toFixed(1);
    }
    var step = Math.max(1, Math.ceil(tMax / 10));
    for (var s = 0; s <= tMax; s += step) {
      el('text', { x: x(s), y: H - 8, 'text-anchor': 'middle' }, svg).textContent = s + ' s';
    }
    el('line', { x1: L, x2: L, y1: T, y2: H - B, stroke: '#8c959f' }, svg);
    el('line', { x1: L, x2: W - R, y1: H - B, y2: H - B, stroke: '#8c959f' }, svg);
    if (opts.limit !== undefined && opts.limit <= yMax) {
      el('line', { x1: L, x2: W - R, y1: y(opts.limit), y2: y(opts.limit), stroke: '#cf222e', 'stroke-dasharray': '5 3' }, svg);
      el('text', { x: W - R, y: y(opts.limit) - 3, 'text-anchor': 'end', fill: '#cf222e' }, svg).textContent = opts.limitLabel;
    }
    scenario.marks.forEach(function (m, k) {
      el('line', { x1: x(m.t), x2: x(m.t), y1: T - 4, y2: H - B, stroke: '#57606a', 'stroke-dasharray': '2 3' }, svg);
      // Numbered as in the list of operations under the table; staggered, as operations come in bursts.
      var label = el('text', { x: x(m.t) + 2, y: T - 16 + (k % 3) * 7, 'class': 'mark' }, svg);
      label.textContent = String(k + 1);
      el('title', {}, label).textContent = m.t.toFixed(1) + ' s ' + m.label;
    });
    series.forEach(function (s) {
      var pts = [];
      tl.forEach(function (p) {
        var v = s.value(p);
        if (v !== null && v !== undefined) pts.push(x(p.t).toFixed(1) + ',' + y(v).toFixed(1));
      });
      if (pts.length === 1) pts.push(pts[0]);
      el('polyline', { points: pts.join(' '), fill: 'none', stroke: s.color, 'stroke-width': 2, 'stroke-dasharray': s.dash || '', 'data-series': s.name }, svg);
    });
    var legend = document.createElement('div');
    legend.className = 'legend';
    series.forEach(function (s) {
      var span = document.createElement('span');
      var swatch = document.createElement('i');
      swatch.style.background = s.color;
      span.appendChild(swatch);
      span.appendChild(document.createTextNode(s.name));
      legend.appendChild(span);
    });
    figure.appendChild(legend);
  }
  function instancesOf(scenario) {
    var names = {};
    scenario.timeline.forEach(function (p) {
      Object.keys(p.connected).concat(Object.keys(p.wsActive)).forEach(function (n) { names[n] = true; });
    });
    return Object.keys(names).sort();
  }
  document.querySelectorAll('.charts').forEach(function (box) {
    var scenario = data.scenarios[Number(box.getAttribute('data-scenario'))];
    var figures = {};
    box.querySelectorAll('figure').forEach(function (f) { figures[f.getAttribute('data-chart')] = f; });
    var connections = [];
    instancesOf(scenario).forEach(function (name) {
      var color = PALETTE[name] || PALETTE.other;
      connections.push({ name: name + ' (devices)', color: color, value: function (p) { return p.connected[name] || 0; } });
      connections.push({ name: name + ' ws_active', color: color, dash: '4 3', value: function (p) { return name in p.wsActive ? p.wsActive[name] : null; } });
    });
    connections.push({ name: 'not connected', color: '#8c959f', value: function (p) {
      var n = 0; for (var k in p.connected) n += p.connected[k];
      return scenario.devices - n;
    } });
    chart(figures.connections, 'Devices connected per instance', scenario, connections, { floor: scenario.devices });
    chart(figures.messages, 'Messages per second that arrived', scenario, [
      { name: 'device → app', color: '#1a7f37', value: function (p) { return p.deviceToAppPerS; } },
      { name: 'app → device', color: '#8250df', dash: '6 3', value: function (p) { return p.appToDevicePerS; } },
    ], {});
    chart(figures.reconnects, 'Reconnections per second', scenario, [
      { name: 'reconnections completed', color: '#bf3989', value: function (p) { return p.reconnects; } },
    ], {});
    chart(figures.rtt, 'RTT p95 (ms), device message sent → acknowledged', scenario, [
      { name: 'RTT p95', color: '#0969da', value: function (p) { return p.rttP95Ms; } },
    ], { limit: data.targets.rttP95Ms, limitLabel: 'target ' + data.targets.rttP95Ms + ' ms' });
  });
})();
`;

export function renderHtmlReport(results: readonly ScenarioResult[]): string {
  const ok = results.every((r) => r.ok);
  const data = JSON.stringify({ targets: DRILL_TARGETS, scenarios: results }).replace(/</g, '\\u003c');
  const title = `zerodrop drill: ${ok ? 'zero drops, every target met' : 'a target was missed'}`;
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(title)}</title>
<style>${STYLE}</style>
</head>
<body>
<h1>${escapeHtml(title)}</h1>
<p class="meta">Runbook scenarios on a local cluster (Redis, app, app_replica, nginx), ${results.length} scenario(s). Targets: 0 drops, resume success rate &gt; ${DRILL_TARGETS.resumeSuccessPercent} %, RTT p95 ≤ ${DRILL_TARGETS.rttP95Ms} ms, reconnection ≤ ${DRILL_TARGETS.reconnectMs / 1000} s, drain within its grace period. Dotted vertical lines mark the operations, numbered as listed under each table.</p>
${results.map(section).join('\n')}
<script type="application/json" id="drill-data">${data}</script>
<script>${SCRIPT}</script>
</body>
</html>
`;
}
