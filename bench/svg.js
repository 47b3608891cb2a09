'use strict';
// docs/benchmarks.svg, written by hand (no dependencies): one row per
// figure, two horizontal bars (vs @grpc/grpc-js solid, vs the grpc-go client
// hatched) on a log scale centred on 1×. A bar is h2grpc's advantage: how
// many times better it is than the peer (peer ÷ h2grpc for lower-is-better
// figures), so right of 1× always means h2grpc wins. Ticks mark the targets.

const WIDTH = 980;
const LABEL_W = 290;
const PLOT_X0 = LABEL_W + 20;
const PLOT_X1 = WIDTH - 70;
const ROW_H = 38;
const BAR_H = 13;
const TOP = 92;
const GOOD = '#2f9e44';
const BAD = '#e03131';

function esc(s) {
  return String(s).replace(
    /[&<>"']/g,
    (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c],
  );
}

function fmtFactor(v) {
  return v >= 10 ? `${v.toFixed(0)}×` : `${v.toFixed(2)}×`;
}

/** items: [{ label, vsGrpcJs, vsGrpcGo, targetVsGrpcJs, targetVsGrpcGo }] (advantages). */
function ratioChart(items, { title, subtitle }) {
  const values = items
    .flatMap((i) => [i.vsGrpcJs, i.vsGrpcGo, i.targetVsGrpcJs, i.targetVsGrpcGo])
    .filter((v) => v !== undefined && Number.isFinite(v) && v > 0);
  // Half a step of room left of the smallest bar for its label.
  const lo = Math.max(-8, Math.min(-1, Math.floor(Math.log2(Math.min(...values, 1)) - 0.6)));
  const hi = Math.min(8, Math.max(1, Math.ceil(Math.log2(Math.max(...values, 1)))));
  const x = (v) => {
    const l = Math.min(hi, Math.max(lo, Math.log2(v)));
    return PLOT_X0 + ((l - lo) / (hi - lo)) * (PLOT_X1 - PLOT_X0);
  };
  const height = TOP + items.length * ROW_H + 50;
  const out = [];
  out.push(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${height}" ` +
      `viewBox="0 0 ${WIDTH} ${height}" font-family="-apple-system, 'Segoe UI', Helvetica, Arial, sans-serif" font-size="12">`,
    '<defs>',
    ...[
      ['hatch-good', GOOD],
      ['hatch-bad', BAD],
    ].map(
      ([id, color]) =>
        `<pattern id="${id}" width="6" height="6" patternUnits="userSpaceOnUse" patternTransform="rotate(45)">` +
        `<rect width="6" height="6" fill="${color}" fill-opacity="0.25"/>` +
        `<line x1="0" y1="0" x2="0" y2="6" stroke="${color}" stroke-width="3"/></pattern>`,
    ),
    '</defs>',
    `<rect width="${WIDTH}" height="${height}" fill="#ffffff"/>`,
    `<text x="20" y="28" font-size="17" font-weight="600" fill="#212529">${esc(title)}</text>`,
    `<text x="20" y="48" fill="#495057">${esc(subtitle)}</text>`,
  );

  // legend
  const ly = 66;
  out.push(
    `<rect x="20" y="${ly - 10}" width="22" height="11" fill="${GOOD}"/>`,
    `<text x="48" y="${ly}" fill="#212529">vs @grpc/grpc-js</text>`,
    `<rect x="160" y="${ly - 10}" width="22" height="11" fill="url(#hatch-good)" stroke="${GOOD}"/>`,
    `<text x="188" y="${ly}" fill="#212529">vs grpc-go client</text>`,
    `<text x="310" y="${ly}" fill="#212529"><tspan fill="${GOOD}" font-weight="600">green</tspan>: h2grpc better, ` +
      `<tspan fill="${BAD}" font-weight="600">red</tspan>: worse</text>`,
    `<line x1="560" y1="${ly - 11}" x2="560" y2="${ly + 2}" stroke="#212529" stroke-width="2"/>`,
    `<text x="567" y="${ly}" fill="#212529">target</text>`,
  );

  // grid: one line per power of two
  const gridBottom = TOP + items.length * ROW_H;
  for (let p = lo; p <= hi; p++) {
    const gx = x(2 ** p);
    const label = `${Number((2 ** p).toPrecision(2))}×`;
    out.push(
      `<line x1="${gx.toFixed(1)}" y1="${TOP - 6}" x2="${gx.toFixed(1)}" y2="${gridBottom}" ` +
        `stroke="${p === 0 ? '#495057' : '#dee2e6'}" stroke-width="${p === 0 ? 1.5 : 1}"/>`,
      `<text x="${gx.toFixed(1)}" y="${gridBottom + 16}" text-anchor="middle" fill="#495057">${label}</text>`,
    );
  }
  out.push(
    `<text x="${x(1).toFixed(1)}" y="${gridBottom + 34}" text-anchor="middle" fill="#495057">` +
      `← peer better · h2grpc advantage (log scale) · h2grpc better →</text>`,
  );

  items.forEach((item, i) => {
    const y = TOP + i * ROW_H;
    if (i % 2 === 1) {
      out.push(
        `<rect x="10" y="${y - 3}" width="${WIDTH - 20}" height="${ROW_H}" fill="#f8f9fa"/>`,
      );
    }
    out.push(
      `<text x="${LABEL_W}" y="${y + BAR_H + 5}" text-anchor="end" fill="#212529">${esc(item.label)}</text>`,
    );
    const bars = [
      [item.vsGrpcJs, item.targetVsGrpcJs, false, false],
      [item.vsGrpcGo, item.targetVsGrpcGo, true, item.notForGo],
    ];
    bars.forEach(([v, target, hatched, na], j) => {
      const by = y + j * (BAR_H + 3);
      if (target !== undefined) {
        const tx = x(target).toFixed(1);
        out.push(
          `<line x1="${tx}" y1="${by - 2}" x2="${tx}" y2="${by + BAR_H + 2}" stroke="#212529" stroke-width="2"/>`,
        );
      }
      if (v === undefined || !Number.isFinite(v) || v <= 0) {
        const why = na ? 'n/a for Go' : 'no data';
        out.push(
          `<text x="${x(1) + 4}" y="${by + BAR_H - 2}" fill="#868e96" font-size="11">${why}</text>`,
        );
      } else {
        const good = v >= 1;
        const color = good ? GOOD : BAD;
        const x1 = x(1);
        const x2 = x(v);
        const left = Math.min(x1, x2);
        const w = Math.max(1, Math.abs(x2 - x1));
        const fill = hatched ? `url(#hatch-${good ? 'good' : 'bad'})` : color;
        out.push(
          `<rect x="${left.toFixed(1)}" y="${by}" width="${w.toFixed(1)}" height="${BAR_H}" fill="${fill}"` +
            `${hatched ? ` stroke="${color}"` : ''}/>`,
        );
        const tx = good ? x2 + 4 : x2 - 4;
        out.push(
          `<text x="${tx.toFixed(1)}" y="${by + BAR_H - 2}" text-anchor="${good ? 'start' : 'end'}" ` +
            `fill="${color}" font-size="11" stroke="#ffffff" stroke-width="3" paint-order="stroke">` +
            `${fmtFactor(v)}</text>`,
        );
      }
    });
  });
  out.push('</svg>');
  return `${out.join('\n')}\n`;
}

module.exports = { ratioChart };
