// docs/walkthrough.md followed step by step: the article's machines in
// namespaces, the page's YAML as written, every command of "Check it".
import { afterAll, expect, it } from 'vitest';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describeRoot, useLab } from '../support/root.js';
import { PACKAGE_ROOT, SIXTUN_BIN, startDaemon } from '../../src/lab/daemons.js';
import { ping } from '../helpers/programs.js';

const page = readFileSync(join(PACKAGE_ROOT, 'docs', 'walkthrough.md'), 'utf8');

/** The page's fenced block whose first line is `# ${title}…`. */
function block(lang: string, title: string): string {
  const found = [...page.matchAll(new RegExp('```' + lang + '\\n([\\s\\S]*?)```', 'g'))].map((m) => m[1]).find((b) => b.startsWith(`# ${title}`));
  expect(found, `a ${lang} block starting "# ${title}" in docs/walkthrough.md`).toBeDefined();
  return found!;
}

describeRoot('docs/walkthrough.md, step by step', () => {
  const lab = useLab('walk');
  const dir = mkdtempSync(join(tmpdir(), 'sixtun-walk-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('the server and client of the page carry the client, its LAN and the server address, and status finds each daemon', async () => {
    // The article's machines: one NIC on the server for its public IPv4 and its IPv6 /64.
    const srv = lab.ns('srv');
    const rtr = lab.ns('rtr');
    const cli = lab.ns('cli');
    const lan = lab.ns('lan');
    const host = lab.ns('host');
    lab.veth(srv, 'eth0', rtr, 'to-srv');
    lab.addr(srv, 'eth0', '203.0.113.1/24');
    lab.addr(srv, 'eth0', '2001:db8:ff::1/64', ['nodad']);
    lab.ip(srv, ['route', 'add', 'default', 'via', '203.0.113.254']);
    lab.ip(srv, ['-6', 'route', 'add', 'default', 'via', '2001:db8:ff::fffe']);
    lab.addr(rtr, 'to-srv', '203.0.113.254/24');
    lab.addr(rtr, 'to-srv', '2001:db8:ff::fffe/64', ['nodad']);
    lab.veth(cli, 'wan0', rtr, 'to-cli');
    lab.addr(cli, 'wan0', '198.51.100.2/24');
    lab.ip(cli, ['route', 'add', 'default', 'via', '198.51.100.1']);
    lab.addr(rtr, 'to-cli', '198.51.100.1/24');
    lab.veth(rtr, 'to-host', host, 'eth0');
    lab.addr(rtr, 'to-host', '2001:db8:beef::fffe/64', ['nodad']);
    lab.addr(host, 'eth0', '2001:db8:beef::1/64', ['nodad']);
    lab.ip(host, ['-6', 'route', 'add', 'default', 'via', '2001:db8:beef::fffe']);
    lab.sysctl(rtr, 'net.ipv4.ip_forward', '1');
    lab.sysctl(rtr, 'net.ipv6.conf.all.forwarding', '1');
    // "your provider (or upstream router) must route it to 2001:db8:ff::1"
    lab.ip(rtr, ['-6', 'route', 'add', '2001:db8:100::/64', 'via', '2001:db8:ff::1']);
    // The client's LAN, with a host that uses the client as its gateway.
    lab.veth(cli, 'eth1', lan, 'eth0');
    lab.addr(lan, 'eth0', '2001:db8:100::2/64', ['nodad']);
    lab.ip(lan, ['-6', 'route', 'add', 'default', 'via', '2001:db8:100::1']);

    const serverYaml = join(dir, 'server.yaml');
    const clientYaml = join(dir, 'client.yaml');
    // The journal where the page puts it, /var/lib/sixtun, moved into this run's directory.
    writeFileSync(serverYaml, block('yaml', '/etc/sixtun/server.yaml').replace('/var/lib/sixtun/', `${dir}/`));
    writeFileSync(clientYaml, block('yaml', '/etc/sixtun/client.yaml, with a LAN'));
    // Default control sockets: one per mode and interface, so both ends can run on one machine.
    await startDaemon(lab, srv, 'server', serverYaml, '/run/sixtun/server-sixtun0.sock');
    await startDaemon(lab, cli, 'client', clientYaml, '/run/sixtun/client-sixtun0.sock');
    expect(lab.ipJson<Array<{ addr_info: Array<{ local: string }> }>>(cli, ['-6', 'addr', 'show', 'dev', 'eth1'])[0].addr_info.map((a) => a.local)).toContain('2001:db8:100::1');
    expect(lab.exec(cli, ['cat', '/proc/sys/net/ipv6/conf/all/forwarding']).trim()).toBe('1');

    const check = /```sh\n([\s\S]*?)```/.exec(page.split('\n## Check it\n')[1])![1].split('\n').filter((l) => l.startsWith('ping') || l.startsWith('sixtun'));
    expect(check).toHaveLength(4);
    const where: Record<string, string[]> = {
      '2001:db8:ff::2': [cli],
      '2001:db8:ff::3': [srv, host],
      '2001:db8:100::2': [host, srv],
    };
    for (const line of check.filter((l) => l.startsWith('ping'))) {
      const addr = line.split(/\s+/)[4];
      for (const ns of where[addr]) expect(ping(lab, ns, addr, { count: 3 }).received, `${line} in ${ns}`).toBe(3);
    }
    for (const [ns, mode] of [[srv, 'server'], [cli, 'client']] as const) {
      const out = lab.exec(ns, [process.execPath, SIXTUN_BIN, 'status']);
      expect(out).toMatch(new RegExp(`^${mode} sixtun0 local (203\\.0\\.113\\.1|198\\.51\\.100\\.2) pid \\d+\\n`));
    }
    const table = lab.exec(srv, [process.execPath, SIXTUN_BIN, 'status']);
    expect(table).toMatch(/\nhome +198\.51\.100\.2 +2001:db8:ff::3 +2001:db8:100::\/64 +1480 +\d+ +\d+ +\d+ s ago/);
  });
});
