// rtnetlink against the real kernel, with iproute2's `ip -j` as the oracle.
import { afterAll, beforeAll, expect, it } from 'vitest';
import { describeRoot, useLab } from '../support/root.js';
import { waitFor } from '../../src/lab/netns.js';
import { enterNetns } from '../../src/sys/netns.js';
import { openTun } from '../../src/sys/tun.js';
import { native } from '../../src/sys/native.js';
import { readSysctl } from '../../src/sys/sysctl.js';
import { NetlinkClient } from '../../src/netlink/client.js';
import { NetlinkError } from '../../src/netlink/errors.js';
import { NetlinkMonitor, type MonitorEvent } from '../../src/netlink/monitor.js';
import { addAddress, dumpAddresses } from '../../src/netlink/addr.js';
import { dumpRoutes, getRoute } from '../../src/netlink/route.js';
import { dumpNeighbours } from '../../src/netlink/neigh.js';
import { dumpLinks, getLink } from '../../src/netlink/link.js';
import { IFF_UP, RTPROT_SIXTUN } from '../../src/netlink/constants.js';
import { Reconciler, type DesiredState } from '../../src/control/reconcile.js';
import { parsePrefix } from '../../src/wire/address.js';

type Json = Record<string, unknown>;

describeRoot('rtnetlink against the kernel (ip -j as oracle)', () => {
  const lab = useLab('nl');
  const srv = lab.ns('srv');
  const up = lab.ns('up');
  lab.veth(srv, 'ext0', up, 'up0');
  lab.addr(srv, 'ext0', '2001:db8:ff::1/64', ['nodad']);
  lab.addr(up, 'up0', '2001:db8:ff::fffe/64', ['nodad']);
  lab.addr(srv, 'ext0', '192.0.2.1/24');

  let leave: () => void;
  let tunFd = -1;
  let nl: NetlinkClient;

  beforeAll(() => {
    // The whole suite runs with this thread inside the server namespace, so
    // sysctls written through /proc land there.
    leave = enterNetns(srv);
    tunFd = openTun({ name: 'sixtun0' }).fd;
    nl = new NetlinkClient();
  });

  afterAll(() => {
    nl?.close();
    if (tunFd >= 0) native.close(tunFd);
    leave?.();
  });

  const SYSCTLS = ['net/ipv6/conf/sixtun0/forwarding', 'net/ipv6/conf/ext0/forwarding', 'net/ipv6/conf/all/forwarding'];

  function snapshot(): Json {
    const strip = (rows: Json[]): Json[] => rows.map((r) => {
      const { expires, used, ...rest } = r;
      void expires; void used;
      return rest;
    });
    // A link's first `up` attaches the default qdisc, which stays after `down`:
    // a kernel side effect, not state sixtun adds, so it is left out.
    const addr = lab.ipJson<Json[]>(srv, ['addr', 'show']).map((l) => {
      const { qdisc, ...rest } = l;
      void qdisc;
      return rest;
    });
    return {
      addr,
      route4: strip(lab.ipJson<Json[]>(srv, ['-4', 'route', 'show', 'table', 'all'])),
      route6: strip(lab.ipJson<Json[]>(srv, ['-6', 'route', 'show', 'table', 'all'])),
      proxy: lab.ipJson(srv, ['-6', 'neigh', 'show', 'proxy']),
      sysctl: SYSCTLS.map((k) => readSysctl(k)),
    };
  }

  const desired: DesiredState = {
    links: [{ name: 'sixtun0', up: true, mtu: 1480, txQueueLen: 5000 }],
    addresses: [
      { link: 'sixtun0', cidr: 'fe80::c000:201/64', nodad: true },
      { link: 'sixtun0', cidr: '2001:db8:ff::2/127', nodad: true },
    ],
    routes: [
      { dst: '2001:db8:100::/64', link: 'sixtun0' },
      { dst: '::/0', gateway: '2001:db8:ff::fffe', link: 'ext0' },
    ],
    proxies: [{ link: 'ext0', address: '2001:db8:ff::3' }],
    sysctls: SYSCTLS.map((key) => ({ key, value: '1' })),
  };

  it('builds a tunnel server state, reads it back like ip -j does, and tears it down to the snapshot', async () => {
    const before = snapshot();
    const rec = new Reconciler(nl);
    await rec.apply(desired);

    // The oracle sees it.
    const link = lab.ipJson<Json[]>(srv, ['-d', 'link', 'show', 'sixtun0'])[0];
    expect(link.mtu).toBe(1480);
    expect(link.txqlen).toBe(5000);
    expect(link.flags).toContain('UP');
    const oracleAddrs = lab.ipJson<Array<{ addr_info: Json[] }>>(srv, ['-6', 'addr', 'show', 'dev', 'sixtun0'])[0].addr_info
      .map((a) => `${a.local}/${a.prefixlen}`).sort();
    expect(oracleAddrs).toEqual(expect.arrayContaining(['fe80::c000:201/64', '2001:db8:ff::2/127']));
    const oracleRoutes = lab.ipJson<Json[]>(srv, ['-6', 'route', 'show', 'proto', String(RTPROT_SIXTUN)])
      .map((r) => `${r.dst} ${r.gateway ?? '-'} ${r.dev}`).sort();
    expect(oracleRoutes).toEqual(['2001:db8:100::/64 - sixtun0', 'default 2001:db8:ff::fffe ext0']);
    const oracleProxies = lab.ipJson<Json[]>(srv, ['-6', 'neigh', 'show', 'proxy']).map((n) => `${n.dst} ${n.dev}`);
    expect(oracleProxies).toEqual(['2001:db8:ff::3 ext0']);
    expect(SYSCTLS.map((k) => lab.exec(srv, ['cat', `/proc/sys/${k}`]).trim())).toEqual(['1', '1', '1']);

    // sixtun's own dumps say the same as the oracle.
    const tun = await getLink(nl, 'sixtun0');
    expect(tun.flags & IFF_UP).toBe(IFF_UP);
    expect([tun.mtu, tun.txQueueLen]).toEqual([1480, 5000]);
    const ownAddrs = (await dumpAddresses(nl, 6, tun.index)).map((a) => `${a.address}/${a.prefixLength}`).sort();
    expect(ownAddrs).toEqual(oracleAddrs);
    const names = new Map((await dumpLinks(nl)).map((l) => [l.index, l.name]));
    const ownRoutes = (await dumpRoutes(nl, 6)).filter((r) => r.protocol === RTPROT_SIXTUN)
      .map((r) => `${r.dstLength === 0 ? 'default' : `${r.dst}/${r.dstLength}`} ${r.gateway ?? '-'} ${names.get(r.oif!)}`).sort();
    expect(ownRoutes).toEqual(oracleRoutes);
    const ownProxies = (await dumpNeighbours(nl, 6, true)).map((n) => `${n.dst} ${names.get(n.index)}`);
    expect(ownProxies).toEqual(oracleProxies);

    // Applying again is not an error and owns nothing new.
    const owned = rec.ownedSummary();
    await rec.apply(desired);
    expect(rec.ownedSummary()).toEqual(owned);

    await rec.teardown();
    expect(snapshot()).toEqual(before);
  });

  it('route get finds the interface and preferred source for an address', async () => {
    const r = await getRoute(nl, '192.0.2.77');
    expect(r.oif).toBe((await getLink(nl, 'ext0')).index);
    expect(r.prefsrc).toBe('192.0.2.1');
  });

  it('adding an address to a missing interface is ENODEV with the kernel message', async () => {
    const err = await addAddress(nl, { index: 99999, prefix: parsePrefix('2001:db8:1::1/64', false) }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(NetlinkError);
    expect((err as NetlinkError).code).toBe('ENODEV');
    expect((err as NetlinkError).errno).toBe(19);
    expect((err as NetlinkError).kernelMessage).toMatch(/\S/);
  });

  it('a duplicate add through reconcile is not an error, and an existing operator route is left alone', async () => {
    lab.ip(srv, ['-6', 'route', 'add', '2001:db8:200::/64', 'dev', 'ext0']);
    const rec = new Reconciler(nl);
    const state: DesiredState = {
      routes: [{ dst: '2001:db8:200::/64', link: 'ext0' }],
      proxies: [{ link: 'ext0', address: '2001:db8:ff::9' }],
    };
    await rec.apply(state);
    await rec.apply(state);
    expect(rec.ownedSummary().routes).toEqual([]);
    await rec.teardown();
    expect(lab.ipJson<Json[]>(srv, ['-6', 'route', 'show', '2001:db8:200::/64'])).toHaveLength(1);
    expect(lab.ipJson<Json[]>(srv, ['-6', 'neigh', 'show', 'proxy'])).toEqual([]);
    lab.ip(srv, ['-6', 'route', 'del', '2001:db8:200::/64', 'dev', 'ext0']);
  });

  it('a route another put in the way is reported and left alone; a stale one of sixtun’s own is replaced and removed at teardown', async () => {
    lab.ip(srv, ['-6', 'route', 'add', '2001:db8:300::/64', 'dev', 'ext0']);
    lab.ip(srv, ['-6', 'route', 'add', '2001:db8:301::/64', 'dev', 'ext0', 'proto', String(RTPROT_SIXTUN)]);
    const rec = new Reconciler(nl);
    const routes = [{ dst: '2001:db8:300::/64', link: 'sixtun0' }, { dst: '2001:db8:301::/64', link: 'sixtun0' }];
    await rec.apply({ links: [{ name: 'sixtun0', up: true }], routes });
    const shown = (dst: string): unknown[] => lab.ipJson<Json[]>(srv, ['-6', 'route', 'show', dst]).map((r) => [r.dev, r.protocol ?? 'boot']);
    expect(shown('2001:db8:300::/64')).toEqual([['ext0', 'boot']]);
    expect([...rec.conflicts.keys()]).toEqual(['2001:db8:300::/64 table 254 metric default']);
    expect(shown('2001:db8:301::/64')).toEqual([['sixtun0', String(RTPROT_SIXTUN)]]);
    await rec.teardown();
    expect(shown('2001:db8:300::/64')).toEqual([['ext0', 'boot']]);
    expect(shown('2001:db8:301::/64')).toEqual([]);
    // Once the operator's route is gone, sixtun's goes in.
    lab.ip(srv, ['-6', 'route', 'del', '2001:db8:300::/64', 'dev', 'ext0']);
    await rec.apply({ links: [{ name: 'sixtun0', up: true }], routes });
    expect(shown('2001:db8:300::/64')).toEqual([['sixtun0', String(RTPROT_SIXTUN)]]);
    expect(rec.conflicts.size).toBe(0);
    await rec.teardown();
  });

  it('the monitor reports an address removed and a link set down within 1 s', async () => {
    const mon = new NetlinkMonitor();
    const events: MonitorEvent[] = [];
    mon.on('event', (e) => events.push(e));
    try {
      lab.addr(srv, 'ext0', '2001:db8:ff::77/64', ['nodad']);
      await waitFor(() => events.some((e) => e.kind === 'addr' && e.action === 'new' && e.address.address === '2001:db8:ff::77'), 1000, 10, 'new address');
      let t0 = Date.now();
      lab.ip(srv, ['addr', 'del', '2001:db8:ff::77/64', 'dev', 'ext0']);
      await waitFor(() => events.some((e) => e.kind === 'addr' && e.action === 'del' && e.address.address === '2001:db8:ff::77'), 1000, 10, 'address removal');
      expect(Date.now() - t0).toBeLessThan(1000);
      t0 = Date.now();
      lab.ip(srv, ['link', 'set', 'ext0', 'down']);
      await waitFor(() => events.some((e) => e.kind === 'link' && e.link.name === 'ext0' && (e.link.flags & IFF_UP) === 0), 1000, 10, 'link down');
      expect(Date.now() - t0).toBeLessThan(1000);
    } finally {
      mon.close();
      lab.ip(srv, ['link', 'set', 'ext0', 'up']);
    }
  });
});
