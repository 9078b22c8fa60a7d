import { test, expect } from '@playwright/test';
import { createServer, IncomingHttpHeaders } from 'node:http';
import { createHmac } from 'node:crypto';
import { AddressInfo } from 'node:net';
import { login } from './helpers';

// A webhook receiver on a loopback port (the demo server may reach
// loopback: its own fake SGP lives there).
function receiver() {
  const got: { headers: IncomingHttpHeaders; body: string }[] = [];
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (c) => (body += c));
    req.on('end', () => {
      got.push({ headers: req.headers, body });
      res.writeHead(204).end();
    });
  });
  return new Promise<{ url: string; got: typeof got; close: () => void }>((resolve) =>
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as AddressInfo;
      resolve({ url: `http://127.0.0.1:${port}/sgp`, got, close: () => server.close() });
    }),
  );
}

test('a webhook is set in the page, its secret shown once, and a signed test delivery arrives', async ({ page }) => {
  const hook = await receiver();
  await login(page, '/integracoes');
  const card = page.getByRole('article').filter({ has: page.getByRole('heading', { name: 'Notificações' }) });
  // no SMTP on this server: the page says so instead of failing later
  await expect(card.getByTestId('sem-smtp')).toBeVisible();

  await card.getByRole('button', { name: 'Adicionar webhook' }).click();
  await card.getByRole('textbox', { name: 'URL do webhook' }).fill(hook.url);
  const events = card.getByRole('group', { name: 'Eventos de URL do webhook' });
  await events.getByLabel('Importação concluída').check();
  await card.getByLabel('Avisar se nenhuma importação for concluída em (horas)').fill('48');
  await card.getByRole('button', { name: 'Salvar notificações' }).click();
  const secret = (await card.getByTestId('segredo').locator('code').textContent()) ?? '';
  expect(secret).toMatch(/^whsec_[0-9a-f]{64}$/);
  await page.screenshot({ path: 'screenshots/notificacoes.png', fullPage: true });

  // saved again: no secret shown
  await card.getByRole('button', { name: 'Salvar notificações' }).click();
  await expect(card.getByRole('status').filter({ hasText: 'Notificações salvas.' })).toBeVisible();
  await expect(card.getByTestId('segredo')).toHaveCount(0);

  await card.getByRole('button', { name: 'Enviar teste' }).click();
  await expect(card.getByText('Teste enviado; acompanhe em Entregas.')).toBeVisible();
  // Only the test deliveries are counted: an import that an earlier test
  // finished up to one announcer tick (20 s) before the webhook was saved
  // is announced to it too, as it would be to an admin's.
  const tests = () => hook.got.filter((r) => r.headers['x-sgp-import-event'] === 'teste');
  await expect.poll(() => tests().length, { timeout: 30_000 }).toBe(1);
  const req = tests()[0];
  const ts = req.headers['x-sgp-import-timestamp'] as string;
  const expected = 'sha256=' + createHmac('sha256', secret).update(`${ts}.${req.body}`).digest('hex');
  expect(req.headers['x-sgp-import-signature']).toBe(expected);
  expect(JSON.parse(req.body).evento).toBe('teste');

  // the delivery is listed as done
  const deliveries = card.getByRole('region', { name: 'Entregas' });
  await expect
    .poll(async () => {
      await deliveries.getByRole('button', { name: 'Atualizar' }).click();
      return deliveries.locator('tbody tr').first().textContent();
    }, { timeout: 30_000 })
    .toContain('Concluída');
  await expect(deliveries.locator('tbody tr').first()).toContainText('Teste');

  // removed, nothing is left to notify
  await card.getByRole('button', { name: 'Remover' }).click();
  await card.getByLabel('Avisar se nenhuma importação for concluída em (horas)').fill('');
  await card.getByRole('button', { name: 'Salvar notificações' }).click();
  await expect(card.getByRole('status').filter({ hasText: 'Notificações salvas.' })).toBeVisible();
  await expect(card.getByRole('textbox', { name: 'URL do webhook' })).toHaveCount(0);
  hook.close();
});
