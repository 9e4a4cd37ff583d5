// ftkit's dashboard: follows the RM's /api/events (server-sent events) and draws what it says.
// No framework and no build step: the page is this file, uPlot (served by the RM) and the DOM.
'use strict';

const WINDOW_S = 300; // the charts show the last five minutes
const known = new Map(); // group -> Set of every replica seen in it, so a lost one shows as failed
const charts = new Map(); // title -> { plot, times, series: Map(label -> values) }

const $ = (sel) => document.querySelector(sel);
const el = (tag, attrs = {}, ...children) => {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  for (const c of children) e.append(c);
  return e;
};
const clock = (ms) => new Date(ms).toLocaleTimeString([], { hour12: false });

function replicaState(group, name) {
  const m = group.members.find((x) => x.name === name);
  if (!m) return 'failed';
  return m.ready ? 'ready' : 'joining';
}

function renderGroups(status) {
  const box = $('#groups');
  box.replaceChildren();
  for (const g of status.groups) {
    const names = known.get(g.name) ?? new Set();
    for (const m of g.members) names.add(m.name);
    known.set(g.name, names);
    const slow = new Set(g.failSlow ?? []);
    const rows = [...names].sort().map((name) => {
      const m = g.members.find((x) => x.name === name);
      const state = replicaState(g, name);
      return el(
        'tr',
        { 'data-replica': name, 'data-state': state, 'data-slow': slow.has(name) ? 'yes' : 'no' },
        el('td', {}, name),
        el('td', {}, m ? m.role : '—'),
        el('td', { class: 'state' }, state),
        el('td', {}, m ? m.addr : ''),
      );
    });
    const failovers = status.failovers?.[g.name] ?? 0;
    box.append(
      el(
        'div',
        { class: 'group', 'data-group': g.name },
        el('h2', {}, `${g.name} `, el('span', {}, `${g.mode} · epoch ${g.epoch} · leader ${g.leader ?? 'none'} · ${g.ready.length} ready · ${failovers} failover${failovers === 1 ? '' : 's'} · ${g.clients.length} clients`)),
        el('table', {}, el('thead', {}, el('tr', {}, el('th', {}, 'replica'), el('th', {}, 'role'), el('th', {}, 'state'), el('th', {}, 'address'))), el('tbody', {}, ...rows)),
      ),
    );
  }
  $('#summary').textContent = `${status.mode} replication · ${status.groups.length} group${status.groups.length === 1 ? '' : 's'} · GFD ${status.gfd}`;
}

/** Add a point to the chart titled `title` (made on first use), one value per series label. */
function plot(title, unit, values, parent) {
  let c = charts.get(title);
  const now = Date.now() / 1000;
  if (!c) {
    const div = el('div', { class: 'chart', 'data-chart': title });
    parent.append(el('h2', {}, title), div);
    c = { div, unit, times: [], series: new Map(), plot: undefined, labels: '' };
    charts.set(title, c);
  }
  for (const label of Object.keys(values)) if (!c.series.has(label)) c.series.set(label, c.times.map(() => null));
  c.times.push(now);
  for (const [label, vs] of c.series) vs.push(values[label] ?? null);
  while (c.times.length && c.times[0] < now - WINDOW_S) {
    c.times.shift();
    for (const vs of c.series.values()) vs.shift();
  }
  const labels = [...c.series.keys()].join('|');
  const data = [c.times, ...c.series.values()];
  if (!c.plot || labels !== c.labels) {
    c.plot?.destroy();
    c.labels = labels;
    const width = Math.max(300, c.div.clientWidth || 600);
    c.plot = new uPlot({ width, height: 180, series: [{}, ...[...c.series.keys()].map((label, i) => ({ label, stroke: `hsl(${(i * 67) % 360} 65% 42%)`, width: 1.5 }))], axes: [{}, { label: unit }], scales: { x: { time: true } } }, data, c.div);
  } else c.plot.setData(data);
}

function renderCharts(status) {
  plot('Ready replicas', 'replicas', Object.fromEntries(status.groups.map((g) => [g.name, g.ready.length])), $('#chart-ready'));
  const m = status.metrics;
  if (!m) return;
  const box = $('#metric-charts');
  if (m.links) plot('Link latency p99', 'ms', Object.fromEntries(m.links.map((l) => [`${l.from}→${l.to} ${l.kind}`, l.p99])), box);
  if (m.processes) {
    plot('Process CPU', '%', Object.fromEntries(m.processes.map((p) => [p.process, p.cpu])), box);
    plot('Process memory (RSS)', 'MB', Object.fromEntries(m.processes.map((p) => [p.process, p.rss / 1048576])), box);
  }
}

function addEvent(e) {
  const list = $('#events');
  list.prepend(el('li', { class: e.category, 'data-type': e.type }, el('time', {}, clock(e.time)), e.text));
  while (list.children.length > 300) list.lastElementChild.remove();
}

function connect() {
  const source = new EventSource('/api/events');
  source.addEventListener('open', () => {
    $('#live').textContent = 'live';
    $('#live').dataset.live = 'yes';
  });
  source.addEventListener('error', () => {
    // EventSource reconnects by itself; say so meanwhile.
    $('#live').textContent = 'reconnecting…';
    $('#live').dataset.live = 'no';
  });
  source.addEventListener('status', (msg) => {
    const status = JSON.parse(msg.data);
    renderGroups(status);
    renderCharts(status);
  });
  source.addEventListener('event', (msg) => addEvent(JSON.parse(msg.data)));
}

connect();
