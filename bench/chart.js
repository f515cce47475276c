'use strict';

// Draws what `npm run bench -- --json=FILE` and `npm run bench:shim -- --json=FILE`
// wrote as an SVG bar chart of ratios (Vega-Lite, rendered headless by Vega:
// bench/'s devDependencies, `npm install` in bench/).
//
//   node bench/chart.js IN.json OUT.svg
//
// bench:shim: per workload, the shim's time over glibc's, mimalloc's and
// jemalloc's (1.0 = as fast; below is faster). bench: each target's measured
// ratio beside its limit.

const fs = require('fs');

function shimSpec(data) {
  const values = [];
  for (const row of data.rows) {
    for (const [other, ratio] of Object.entries(row.shimOver)) {
      if (Number.isFinite(ratio)) values.push({ workload: row.workload, against: `shim / ${other}`, ratio });
    }
  }
  const order = data.rows.map((r) => r.workload);
  const rows = { y: { field: 'workload', type: 'nominal', title: null, sort: order }, yOffset: { field: 'against', type: 'nominal' } };
  return {
    title: { text: 'sysalloc shim: time per op over other allocators (lower is better; line = as fast)', subtitle: `${data.machine}; median of ${data.runs} runs, each case in its own process; shared machine` },
    data: { values },
    width: 460,
    layer: [
      {
        mark: 'bar',
        encoding: {
          ...rows,
          x: { field: 'ratio', type: 'quantitative', title: 'shim time / other allocator time' },
          color: { field: 'against', type: 'nominal', title: null },
        },
      },
      {
        mark: { type: 'text', align: 'left', dx: 3, fontSize: 9 },
        encoding: { ...rows, x: { field: 'ratio', type: 'quantitative' }, text: { field: 'ratio', type: 'quantitative', format: '.2f' } },
      },
      { mark: { type: 'rule', color: 'black', strokeDash: [4, 3] }, encoding: { x: { datum: 1 } } },
    ],
  };
}

function benchSpec(data) {
  const values = data.targets.filter((t) => t.ratio !== null).map((t) => ({ target: `${t.label} [${t.touch}]`, ratio: t.ratio, limit: t.limit, met: t.ratio <= t.limit ? 'met' : 'not met' }));
  return {
    title: { text: 'sysalloc: measured ratio of medians against each target (lower is better)', subtitle: `median of ${data.runs} runs; shared machine; tick = the target's limit` },
    data: { values },
    width: 420,
    encoding: { y: { field: 'target', type: 'nominal', title: null, sort: null } },
    layer: [
      {
        mark: 'bar',
        encoding: {
          x: { field: 'ratio', type: 'quantitative', title: 'sysalloc / contender' },
          color: { field: 'met', type: 'nominal', scale: { domain: ['met', 'not met'], range: ['#4c78a8', '#e45756'] }, title: null },
        },
      },
      { mark: { type: 'tick', color: 'black', thickness: 2 }, encoding: { x: { field: 'limit', type: 'quantitative' } } },
      { mark: { type: 'text', align: 'left', dx: 4, fontSize: 9 }, encoding: { x: { field: 'ratio', type: 'quantitative' }, text: { field: 'ratio', type: 'quantitative', format: '.2f' } } },
    ],
  };
}

async function main() {
  const [input, output] = process.argv.slice(2);
  if (!input || !output) {
    process.stderr.write('usage: node bench/chart.js IN.json OUT.svg\n');
    process.exit(2);
  }
  const data = JSON.parse(fs.readFileSync(input, 'utf8'));
  let spec;
  if (Array.isArray(data.rows)) {
    spec = { $schema: 'https://vega.github.io/schema/vega-lite/v6.json', ...shimSpec(data), config: { background: 'white' } };
  } else if (Array.isArray(data.targets)) {
    spec = { $schema: 'https://vega.github.io/schema/vega-lite/v6.json', ...benchSpec(data), config: { background: 'white' } };
  } else {
    throw new Error(`${input}: neither bench:shim's nor bench's --json output`);
  }
  const vega = await import('vega');
  const vegaLite = await import('vega-lite');
  const compiled = vegaLite.compile(spec).spec;
  const view = new vega.View(vega.parse(compiled), { renderer: 'none' });
  const svg = await view.toSVG();
  fs.writeFileSync(output, svg);
  process.stderr.write(`wrote ${output}\n`);
}

main().catch((err) => {
  process.stderr.write(`${err.stack || err}\n`);
  process.exit(1);
});
