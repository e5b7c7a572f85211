// GET one URL and print {"status":N,"body":"<base64>"} (or {"error":"..."}) on stdout. Used to
// reach servers inside a test network namespace: ip netns exec NS node http-get.mjs URL [HOST]
import { request } from 'node:http';

const [url, host] = process.argv.slice(2);
const req = request(url, { headers: host ? { Host: host } : {}, agent: false, timeout: 5000 }, (response) => {
  const chunks = [];
  response.on('data', (chunk) => chunks.push(chunk));
  response.on('end', () => process.stdout.write(JSON.stringify({ status: response.statusCode, body: Buffer.concat(chunks).toString('base64') })));
});
req.on('timeout', () => req.destroy(new Error('timeout')));
req.on('error', (error) => process.stdout.write(JSON.stringify({ error: error.message })));
req.end();
