// A real etcd cluster for tests and benches: N members, on loopback (ports
// picked free for this run) or in a namespace of the lab (on an address of
// it), in a directory of their own. Members are processes this lab started
// and stops by PID (never by name).
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { waitFor } from './netns.js';
import { rangeEndB64 } from '../store/etcd.js';

/** The password of `root` once enableAuth() ran. */
export const ROOT_PASSWORD = 'sixtun-lab-root';

export interface EtcdMember {
  name: string;
  clientUrl: string;
  peerUrl: string;
  proc: ChildProcess | null;
  output: string;
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

export interface EtcdClusterOptions {
  /** Run inside this network namespace, listening on host (ports from 2379 up). */
  ns?: string;
  host?: string;
  /** More etcd flags for every member (e.g. `--auth-token-ttl 2`). */
  flags?: string[];
  /** Clients over TLS with certificates of a CA made for this run (peers stay
   * plain): 'mutual' requires a client certificate, 'server' only shows the
   * member's (what goes with etcd's auth: its JSON gateway refuses a client
   * certificate while auth is on). */
  tls?: 'mutual' | 'server';
}

/** PEM files of a CA made for one run: a server certificate for host, a client certificate for `sixtun`. */
export interface LabTls {
  ca: string;
  serverCert: string;
  serverKey: string;
  clientCert: string;
  clientKey: string;
}

/** A CA of its own in dir (name), with a server certificate for host and a
 * client certificate, by openssl. etcd's JSON gateway calls the member's own
 * gRPC with the server certificate: with --client-cert-auth it must be a
 * client certificate too. */
export function makeLabTls(dir: string, host: string, name = 'ca'): LabTls {
  const at = (f: string): string => join(dir, `${name}-${f}`);
  const openssl = (args: string[]): void => {
    const r = spawnSync('openssl', args, { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`openssl ${args[0]}: ${r.stderr}`);
  };
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  openssl(['req', '-x509', ...ec, '-keyout', at('key.pem'), '-out', at('ca.pem'), '-subj', `/CN=sixtun lab ${name}`, '-days', '2']);
  const sign = (who: string, subject: string, ext: string): void => {
    openssl(['req', ...ec, '-keyout', at(`${who}-key.pem`), '-out', at(`${who}.csr`), '-subj', subject]);
    writeFileSync(at(`${who}.ext`), ext);
    openssl(['x509', '-req', '-in', at(`${who}.csr`), '-CA', at('ca.pem'), '-CAkey', at('key.pem'), '-CAcreateserial', '-out', at(`${who}.pem`), '-days', '2', '-extfile', at(`${who}.ext`)]);
  };
  sign('server', '/CN=etcd', `subjectAltName=IP:${host}\nextendedKeyUsage=serverAuth,clientAuth\n`);
  sign('client', '/CN=sixtun', 'extendedKeyUsage=clientAuth\n');
  return { ca: at('ca.pem'), serverCert: at('server.pem'), serverKey: at('server-key.pem'), clientCert: at('client.pem'), clientKey: at('client-key.pem') };
}

export class EtcdCluster {
  readonly dir = mkdtempSync(join(tmpdir(), 'sixtun-etcd-'));
  readonly members: EtcdMember[] = [];
  /** The command that runs a program where the members are. */
  private readonly wrap: string[];

  /** The run's CA and certificates when clients speak TLS. */
  tls: LabTls | null = null;
  private clientCerts = false;

  private constructor(private readonly token: string, ns: string | undefined, private readonly flags: string[]) {
    this.wrap = ns === undefined ? [] : ['ip', 'netns', 'exec', ns];
  }

  /** curl where the members are, with the client certificate when they speak TLS. */
  private curl(args: string[]): string[] {
    const tls = this.tls ? ['--cacert', this.tls.ca, ...(this.clientCerts ? ['--cert', this.tls.clientCert, '--key', this.tls.clientKey] : [])] : [];
    return [...this.wrap, 'curl', ...tls, ...args];
  }

  /** POSTs body to url (a member's) with curl; the answer, or an error with curl's. */
  private post(url: string, body: unknown): string {
    const argv = this.curl(['-sf', '-m', '5', '-X', 'POST', '-d', JSON.stringify(body), url]);
    const r = spawnSync(argv[0], argv.slice(1), { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`etcd ${url}: curl exited ${r.status}: ${r.stdout}${r.stderr}`);
    return r.stdout;
  }

  /** Starts `size` members and waits until the cluster answers. */
  static async start(size = 3, opts: EtcdClusterOptions = {}): Promise<EtcdCluster> {
    const c = new EtcdCluster(`sixtun-${process.pid}-${Date.now()}`, opts.ns, opts.flags ?? []);
    const host = opts.host ?? '127.0.0.1';
    try {
      if (opts.tls) {
        c.tls = makeLabTls(c.dir, host);
        c.clientCerts = opts.tls === 'mutual';
      }
      for (let i = 0; i < size; i++) {
        const [client, peer] = opts.ns === undefined ? [await freePort(), await freePort()] : [2379 + 2 * i, 2380 + 2 * i];
        c.members.push({ name: `m${i}`, clientUrl: `${c.tls ? 'https' : 'http'}://${host}:${client}`, peerUrl: `http://${host}:${peer}`, proc: null, output: '' });
      }
      for (let i = 0; i < size; i++) c.startMember(i);
      await c.waitHealthy();
      return c;
    } catch (e) {
      await c.stop();
      throw e;
    }
  }

  get endpoints(): string[] {
    return this.members.map((m) => m.clientUrl);
  }

  startMember(i: number): void {
    const m = this.members[i];
    const cluster = this.members.map((x) => `${x.name}=${x.peerUrl}`).join(',');
    m.output = '';
    const argv = [...this.wrap, 'etcd'];
    m.proc = spawn(argv[0], [...argv.slice(1),
      '--name', m.name, '--data-dir', join(this.dir, m.name),
      '--listen-client-urls', m.clientUrl, '--advertise-client-urls', m.clientUrl,
      '--listen-peer-urls', m.peerUrl, '--initial-advertise-peer-urls', m.peerUrl,
      '--initial-cluster', cluster, '--initial-cluster-token', this.token, '--initial-cluster-state', 'new',
      '--heartbeat-interval', '50', '--election-timeout', '500', '--log-level', 'warn', ...this.flags,
      ...(this.tls ? ['--cert-file', this.tls.serverCert, '--key-file', this.tls.serverKey] : []),
      ...(this.tls && this.clientCerts ? ['--client-cert-auth', '--trusted-ca-file', this.tls.ca] : []),
    ], { stdio: ['ignore', 'pipe', 'pipe'] });
    const keep = (d: Buffer): void => { m.output = (m.output + d.toString()).slice(-20_000); };
    m.proc.stdout!.on('data', keep);
    m.proc.stderr!.on('data', keep);
  }

  /** Moves the leadership to member i (so that killing it costs an
   * election) and waits until every running member follows it. */
  async makeLeader(i: number, timeoutMs = 10_000): Promise<void> {
    const status = (m: EtcdMember): { id: string; leader: string } => {
      const j = JSON.parse(this.post(`${m.clientUrl}/v3/maintenance/status`, {})) as { header: { member_id: string }; leader: string };
      return { id: j.header.member_id, leader: j.leader };
    };
    const target = status(this.members[i]).id;
    await waitFor(() => {
      const running = this.members.filter((m) => m.proc !== null);
      const all = running.map(status);
      if (all.every((s) => s.leader === target)) return true;
      const leader = running[all.findIndex((s) => s.id === s.leader)];
      if (leader) this.post(`${leader.clientUrl}/v3/maintenance/transfer-leadership`, { targetID: target });
      return false;
    }, timeoutMs, 100, `etcd member ${this.members[i].name} to lead`);
  }

  /** Turns on etcd's auth as operations.md tells operators to: user `root`
   * (password ROOT_PASSWORD) and user with read-write on prefix alone.
   * waitHealthy() reads without a token: not for a cluster with auth. */
  enableAuth(user: string, password: string, prefix: string): void {
    for (const [path, body] of [
      ['/v3/auth/user/add', { name: 'root', password: ROOT_PASSWORD }],
      ['/v3/auth/role/add', { name: 'root' }],
      ['/v3/auth/user/grant', { user: 'root', role: 'root' }],
      ['/v3/auth/user/add', { name: user, password }],
      ['/v3/auth/role/add', { name: user }],
      ['/v3/auth/role/grant', { name: user, perm: { permType: 'READWRITE', key: Buffer.from(prefix, 'utf8').toString('base64'), range_end: rangeEndB64(prefix) } }],
      ['/v3/auth/user/grant', { user, role: user }],
      ['/v3/auth/enable', {}],
    ] as const) this.post(`${this.endpoints[0]}${path}`, body);
  }

  /** Kills member i (SIGKILL) and waits for it to be gone. */
  async killMember(i: number): Promise<void> {
    const p = this.members[i].proc;
    this.members[i].proc = null;
    if (!p || p.exitCode !== null) return;
    const gone = new Promise((r) => p.once('exit', r));
    p.kill('SIGKILL');
    await gone;
  }

  /** Waits until every running member answers a read. */
  async waitHealthy(timeoutMs = 15_000): Promise<void> {
    await waitFor(async () => {
      for (const m of this.members) {
        if (!m.proc) continue;
        const argv = this.curl(['-sf', '-m', '1', '-X', 'POST', '-d', '{"key":"aGVhbHRo"}', `${m.clientUrl}/v3/kv/range`]);
        if (spawnSync(argv[0], argv.slice(1)).status !== 0) return false;
      }
      return true;
    }, timeoutMs, 100, `etcd cluster ${this.members.map((m) => m.name).join(',')} to answer`).catch((e: Error) => {
      throw new Error(`${e.message}\n${this.members.map((m) => `${m.name}: ${m.output.slice(-1500)}`).join('\n')}`);
    });
  }

  async stop(): Promise<void> {
    for (let i = 0; i < this.members.length; i++) await this.killMember(i);
    rmSync(this.dir, { recursive: true, force: true });
  }
}
