/**
 * How an LFD starts a replica it never ran: a sibling's command line under the new name, on a
 * port of --replica-ports, reading the sibling's section of a file.
 */
import t from 'tap';
import { choosePort, portOf, templateCommand } from '../../lfd/launcher.js';

t.test('a sibling command line, renamed, on the port given, reading the sibling\'s section', async (t) => {
  const node = ['/usr/bin/node', '/opt/ftkit/dist/bin/ftkit.js'];
  t.same(templateCommand([...node, 'server', 'S1', '--config', '/etc/d.ini'], 'S4', 7210), [...node, 'server', 'S4', '--config', '/etc/d.ini', '--port', '7210', '--section', 'S1']);
  t.same(templateCommand([...node, 'server', 'S1', '--port', '7201', '--app', 'log'], 'S4', 7211), [...node, 'server', 'S4', '--port', '7211', '--app', 'log'], 'no file: no section');
  t.same(templateCommand([...node, 'server', 'S1', '--port=7201', '--config=/d.ini', '--section', 'S0'], 'S4'), [...node, 'server', 'S4', '--port=0', '--config=/d.ini', '--section', 'S0'], 'a section given stays');
  t.equal(templateCommand([...node, 'lfd', 'LFD1'], 'S4'), undefined, 'not a server command');
  t.same(templateCommand([...node, 'server', 'S1', '--port', '7201'], 'S7', 0, 'g3'), [...node, 'server', 'S7', '--port', '0', '--group', 'g3'], 'a new replica of another group is started in it');
  t.same(templateCommand([...node, 'server', 'S4', '--port', '7204', '--group', 'g2'], 'S9', 0, 'g1'), [...node, 'server', 'S9', '--port', '0', '--group', 'g1'], "a sibling's group is replaced");
  t.same(templateCommand([...node, 'server', 'S1', '--port', '7201'], 'S2', 0), [...node, 'server', 'S2', '--port', '0'], 'the default group adds no flag');
  t.equal(portOf(['server', 'S1', '--port', '7201']), 7201);
  t.equal(portOf(['server', 'S1', '--port=7202']), 7202);
  t.equal(portOf(['server', 'S1', '--port', '0']), undefined);
  t.equal(portOf(['server', 'S1']), undefined);
});

t.test('choosePort: the first port of the range neither taken nor busy; none when all are', async (t) => {
  const busy = new Set([7212]);
  const isFree = async (p: number) => !busy.has(p);
  t.equal(await choosePort({ first: 7210, last: 7213 }, new Set([7210, 7211]), isFree), 7213);
  t.equal(await choosePort({ first: 7210, last: 7212 }, new Set([7210, 7211]), isFree), undefined);
  t.equal(await choosePort({ first: 7210, last: 7210 }, new Set(), isFree), 7210);
});
