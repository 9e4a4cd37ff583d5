import { AddressError } from '../errors.js';

export interface HostPort {
  host: string;
  port: number;
}

/** Parse `host:port` (port 0–65535). */
export function parseAddress(input: string): HostPort {
  const i = input.lastIndexOf(':');
  if (i < 1) throw new AddressError(input, 'expected host:port');
  const host = input.slice(0, i);
  const portText = input.slice(i + 1);
  if (!/^\d{1,5}$/.test(portText) || Number(portText) > 65535) throw new AddressError(input, 'port must be 0–65535');
  return { host, port: Number(portText) };
}

export function formatAddress({ host, port }: HostPort): string {
  return `${host}:${port}`;
}
