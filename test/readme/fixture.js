'use strict';
// Preloaded into every README example that test/readme.test.ts runs. An example
// that starts an HTTP server (server.listen(port)) gets any free port instead,
// then two POST requests of 100,000 bytes one after the other, each of which
// must be answered with status 200; then the server closes, so the example ends.
// The example's own reply is printed for the test to check.
const http = require('http');

const listen = http.Server.prototype.listen;
http.Server.prototype.listen = function listenOnAnyPort() {
  const server = listen.call(this, 0, '127.0.0.1');
  server.once('listening', async () => {
    const body = Buffer.alloc(100000, 7);
    for (let i = 0; i < 2; i++) {
      const reply = await new Promise((resolve, reject) => {
        const request = http.request(
          { host: '127.0.0.1', port: server.address().port, method: 'POST', path: '/', agent: false },
          (response) => {
            const chunks = [];
            response.on('data', (chunk) => chunks.push(chunk));
            response.on('end', () => resolve({ status: response.statusCode, body: Buffer.concat(chunks) }));
          },
        );
        request.on('error', reject);
        request.end(body);
      });
      console.log(`readme fixture: request ${i + 1} of ${body.length} bytes: status ${reply.status}, reply ${reply.body.toString('hex')}`);
      if (reply.status !== 200) process.exitCode = 1;
    }
    server.close();
  });
  return server;
};
