import { BothubError, invalid } from './errors.js';

/** IPv4 address management for the sandbox bridge: pure arithmetic on a CIDR. */
export interface Subnet {
  network: number;
  prefix: number;
}

export const ipToInt = (ip: string): number => {
  const parts = ip.split('.').map(Number);
  if (parts.length !== 4 || parts.some((p) => !Number.isInteger(p) || p < 0 || p > 255)) throw invalid(`invalid IPv4 address "${ip}"`);
  return ((parts[0]! << 24) | (parts[1]! << 16) | (parts[2]! << 8) | parts[3]!) >>> 0;
};

export const intToIp = (n: number): string => [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.');

export function parseSubnet(cidr: string): Subnet {
  const [ip, bits] = cidr.split('/');
  const prefix = Number(bits);
  if (!ip || !Number.isInteger(prefix) || prefix < 8 || prefix > 29) throw invalid(`invalid subnet "${cidr}": use a CIDR such as 10.77.0.0/16 (prefix 8-29)`);
  const mask = prefix === 0 ? 0 : (~0 << (32 - prefix)) >>> 0;
  return { network: (ipToInt(ip) & mask) >>> 0, prefix };
}

/** The bridge takes the first host address; sandboxes get the rest. */
export const gatewayOf = (s: Subnet): string => intToIp(s.network + 1);

export function allocateAddress(s: Subnet, used: ReadonlySet<string>): string {
  const size = 2 ** (32 - s.prefix);
  for (let i = 2; i < size - 1; i++) {
    const ip = intToIp(s.network + i);
    if (!used.has(ip)) return ip;
  }
  throw new BothubError('LIMIT_EXCEEDED', `no free address left in ${intToIp(s.network)}/${s.prefix}; destroy sandboxes or give the daemon a larger subnet (BOTHUB_SUBNET)`);
}
