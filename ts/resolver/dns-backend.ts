// How the DNS resolver asks questions. The system backend uses getaddrinfo
// (`dns.lookup`), so `/etc/hosts`, `localhost` and the platform's resolver
// configuration apply exactly as for any other program on the machine. A
// target naming its own DNS server (`dns://8.8.8.8/host`) bypasses all that
// and asks that server directly, as the naming doc specifies.
import { promises as dns } from 'node:dns';

/** The two queries the DNS resolver makes; injectable for tests. */
export interface DnsBackend {
  /**
   * The host's addresses as IP literals, in the order the source gives them.
   * Rejects when the name does not resolve.
   */
  lookupHost(hostname: string): Promise<string[]>;
  /**
   * The TXT records at `name`, each as its list of character-strings (long
   * values are split into 255-byte strings). Rejects with `code` `ENODATA`
   * or `ENOTFOUND` when there are none.
   */
  lookupTxt(name: string): Promise<string[][]>;
}

/** Queries through the operating system's resolver, as other programs do. */
export const systemDnsBackend: DnsBackend = {
  async lookupHost(hostname) {
    // One call for both families: asking per family would make "this name
    // has only IPv4" indistinguishable from a real failure.
    const found = await dns.lookup(hostname, { all: true });
    return found.map((entry) => entry.address);
  },
  lookupTxt: (name) => dns.resolveTxt(name),
};

/**
 * Queries one DNS server directly, for targets with an authority.
 * @param server `ip` or `ip:port` (`[v6]:port` for IPv6).
 * @throws Error when `server` is not an IP address with an optional port.
 */
export function serverDnsBackend(server: string): DnsBackend {
  const resolver = new dns.Resolver();
  resolver.setServers([server]);
  return {
    async lookupHost(hostname) {
      const [v6, v4] = await Promise.allSettled([
        resolver.resolve6(hostname),
        resolver.resolve4(hostname),
      ]);
      if (v6.status === 'rejected' && v4.status === 'rejected') {
        // A name with only IPv6 records fails the A query with ENODATA, so
        // the A query's error is the more telling one for IPv4-only setups.
        throw v4.reason;
      }
      return [
        ...(v6.status === 'fulfilled' ? v6.value : []),
        ...(v4.status === 'fulfilled' ? v4.value : []),
      ];
    },
    lookupTxt: (name) => resolver.resolveTxt(name),
  };
}
