/** Readiness probes of the environment's servers, and the choice of free ports. */
import * as fs from 'node:fs/promises';
import * as http from 'node:http';
import * as https from 'node:https';
import * as net from 'node:net';
import type { ClusterInfo } from './info.ts';

export function httpStatus(url: string, tls?: https.RequestOptions): Promise<number> {
  return new Promise((resolve, reject) => {
    const mod = url.startsWith('https:') ? https : http;
    const req = mod.get(url, { ...tls, agent: false, timeout: 3_000 }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
  });
}

export function tcpOpen(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = net.connect({ host, port, timeout: 2_000 });
    sock.once('connect', () => {
      sock.destroy();
      resolve(true);
    });
    sock.once('timeout', () => {
      sock.destroy();
      resolve(false);
    });
    sock.once('error', () => resolve(false));
  });
}

export async function apiserverReady(c: ClusterInfo): Promise<boolean> {
  const [ca, cert, key] = await Promise.all([fs.readFile(c.caFile), fs.readFile(c.adminCertFile), fs.readFile(c.adminKeyFile)]);
  return (await httpStatus(`${c.server}/readyz`, { ca, cert, key })) === 200;
}

/**
 * Free TCP ports on 127.0.0.1 (all held open together, so they are distinct). Also handy in tests
 * for an address where nothing listens (ECONNREFUSED), unlike ports fetch() refuses (1, 6000, ...).
 */
export async function freePorts(n: number): Promise<number[]> {
  const servers: net.Server[] = [];
  try {
    for (let i = 0; i < n; i++) {
      const s = net.createServer();
      servers.push(s);
      await new Promise<void>((resolve, reject) => s.once('error', reject).listen(0, '127.0.0.1', resolve));
    }
    return servers.map((s) => (s.address() as net.AddressInfo).port);
  } finally {
    await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
  }
}

// ---------------------------------------------------------------------------------------------
// PKI (openssl for certificates, node:crypto for the service-account key)
