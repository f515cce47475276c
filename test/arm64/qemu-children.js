'use strict';
// A jest setup file of npm run test:arm64 (scripts/arm64/test.sh). There jest runs
// in the arm64 node under qemu-user, and without qemu registered in binfmt_misc
// (a machine-wide setting) the kernel cannot start that node as a child process.
// Each child_process call that starts process.execPath therefore starts it
// through the same qemu command, SYSALLOC_QEMU (for example
// "qemu-aarch64 -L /usr/aarch64-linux-gnu"); every other command is untouched.
const childProcess = require('child_process');

const qemu = (process.env.SYSALLOC_QEMU || '').split(' ').filter(Boolean);
if (qemu.length > 0 && !childProcess.spawnSync.qemuWrapped) {
  const wrap = (original) => {
    const wrapped = function (file, args, ...rest) {
      if (file !== process.execPath) return original.call(this, file, args, ...rest);
      if (Array.isArray(args)) return original.call(this, qemu[0], [...qemu.slice(1), file, ...args], ...rest);
      // (file, options) or (file, callback): no argument list.
      return original.call(this, qemu[0], [...qemu.slice(1), file], ...(args === undefined ? rest : [args, ...rest]));
    };
    wrapped.qemuWrapped = true;
    return wrapped;
  };
  for (const name of ['spawn', 'spawnSync', 'execFile', 'execFileSync']) childProcess[name] = wrap(childProcess[name]);
}
