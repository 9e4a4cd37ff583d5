/**
 * A delay line for the namespace hosts' switch, for kernels without the netem qdisc: a small
 * program that holds every frame it receives on one interface for a fixed time, then sends it
 * back out of the same interface, in order.
 *
 * `Hosts.delay` plugs it in like this, all in the switch's namespace: a veth pair `dlNa`/`dlNb`,
 * with `dlNa` a bridge port that neither learns nor floods (so the bridge never sends it anything
 * on its own); a tc filter on the ingress of each delayed host's switch port redirects the IPv4
 * packets between the two hosts to `dlNa`'s egress; the delay line reads them on `dlNb`, waits,
 * and writes them back, so they enter the bridge through `dlNa` and are forwarded to their host
 * after the delay, through the bridge's nftables rules (a cut or a loss on the same path still
 * applies). Frames travel with their virtio-net header (PACKET_VNET_HDR), so segmentation and
 * checksum offload survive the detour: a 64 KiB TCP super-packet goes out as it came in.
 *
 * It is Python because Node cannot open a packet socket; python3 is on every machine this
 * project supports (its standard library only). It prints `ready` once bound; when its stdin
 * ends it stops reading, sends what it still holds at the time each frame is due, and exits.
 */
export const DELAY_LINE = String.raw`
import collections, select, socket, sys, time
dev, hold = sys.argv[1], float(sys.argv[2]) / 1000
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(3))
s.setsockopt(263, 15, 1)  # SOL_PACKET, PACKET_VNET_HDR
s.bind((dev, 0))
s.setblocking(False)
held = collections.deque()
reading = True
print('ready', flush=True)
while reading or held:
    wait = max(0.0, held[0][0] - time.monotonic()) if held else None
    ready, _, _ = select.select([s, sys.stdin] if reading else [], [], [], wait)
    if sys.stdin in ready and not sys.stdin.buffer.read1(4096):
        reading = False
    now = time.monotonic()
    if s in ready:
        while True:
            try:
                frame, addr = s.recvfrom(70000)
            except BlockingIOError:
                break
            if addr[2] != socket.PACKET_OUTGOING:
                held.append((now + hold, frame))
    now = time.monotonic()
    while held and held[0][0] <= now:
        s.send(held.popleft()[1])
`;
