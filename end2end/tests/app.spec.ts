import { test, expect } from '@playwright/test';
import { DEMO_EMAIL, DEMO_PASSWORD, SUPERADMIN_EMAIL, SUPERADMIN_PASSWORD, hydrated, login } from './helpers';

test('pages need a login, a wrong password says so, and logout ends the session', async ({ page }) => {
  await page.goto('/clientes');
  await expect(page).toHaveURL('/login?next=%2Fclientes');
  await expect(page.getByRole('heading', { level: 1, name: 'Entrar' })).toBeVisible();
  await hydrated(page);
  await page.getByLabel('E-mail').fill(DEMO_EMAIL);
  await page.getByLabel('Senha').fill('senha-errada');
  await page.getByRole('button', { name: 'Entrar' }).click();
  await expect(page.getByRole('alert')).toHaveText('E-mail ou senha incorretos.');
  await page.screenshot({ path: 'screenshots/login.png', fullPage: true });

  await page.getByLabel('Senha').fill(DEMO_PASSWORD);
  await page.getByRole('button', { name: 'Entrar' }).click();
  await expect(page).toHaveURL('/clientes');
  await expect(page.getByText('Admin Demonstração')).toBeVisible();
  await expect(page.getByText('Provedor Demonstração')).toBeVisible();

  await page.getByRole('button', { name: 'Sair' }).click();
  await expect(page).toHaveURL(/\/login/);
  await page.goto('/dashboard/importacoes');
  await expect(page).toHaveURL('/login?next=%2Fdashboard%2Fimportacoes');
});

test('overview reads from the database and becomes interactive', async ({ page }) => {
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(e.message));

  await login(page, '/');
  await expect(page).toHaveTitle('Painel · SGP Import');
  await expect(page.getByRole('heading', { level: 1, name: 'Painel' })).toBeVisible();
  const card = page.getByRole('article', { name: 'Provedor Demonstração' });
  await expect(card).toBeVisible();
  await expect(card.locator('[data-stat="clientes"]')).toHaveText('0');

  await hydrated(page);
  const toggle = page.getByRole('button', { name: 'Ver importações por situação' });
  const table = card.getByRole('table', { name: 'Importações por situação' });
  await expect(table).toBeHidden();
  await toggle.click();
  await expect(table).toBeVisible();
  await expect(table.getByRole('row')).toHaveCount(8); // header + 7 statuses
  await expect(table).toContainText('Concluída');
  await expect(page.getByRole('button', { name: 'Ocultar importações por situação' })).toHaveAttribute('aria-pressed', 'true');

  // "Atualizar" refetches through the server function without a reload
  const refetch = page.waitForResponse((r) => r.url().endsWith('/api/overview') && r.status() === 200);
  await page.getByRole('button', { name: 'Atualizar' }).click();
  await refetch;
  await expect(card).toBeVisible();

  await page.screenshot({ path: 'screenshots/painel.png', fullPage: true });
  expect(errors).toEqual([]);
});

test('navigation moves between pages in the browser', async ({ page }) => {
  await login(page, '/');
  await hydrated(page);
  const nav = page.getByRole('navigation', { name: 'Navegação principal' });
  for (const [name, path] of [
    ['Status das Importações', '/dashboard/importacoes'],
    ['Clientes', '/clientes'],
    ['Integrações', '/integracoes'],
  ]) {
    await nav.getByRole('link', { name }).click();
    await expect(page).toHaveURL(path);
    await expect(page.getByRole('heading', { level: 1, name })).toBeVisible();
    await expect(nav.getByRole('link', { name })).toHaveAttribute('aria-current', 'page');
    await page.screenshot({ path: `screenshots/${path.slice(1).replaceAll('/', '-')}.png`, fullPage: true });
  }
});

test('an API token is created on the account page, works for scripts, and is revoked', async ({ page, request }) => {
  await login(page, '/conta');
  await hydrated(page);
  await expect(page.getByRole('heading', { level: 1, name: 'Conta' })).toBeVisible();
  await page.getByLabel('Nome do token').fill('script de relatórios');
  await page.getByRole('button', { name: 'Criar token' }).click();
  const shown = page.getByTestId('novo-token');
  await expect(shown).toHaveText(/^sgpi_/);
  const token = (await shown.textContent())!.trim();
  await expect(page.getByRole('cell', { name: 'script de relatórios', exact: true })).toBeVisible();
  await page.screenshot({ path: 'screenshots/conta.png', fullPage: true });

  const lista = '/api/admin/integracoes/sgp/importacoes/lista';
  const headers = { authorization: `Bearer ${token}` };
  expect((await request.get(lista, { headers })).status()).toBe(200);
  await page.getByRole('button', { name: 'Revogar script de relatórios' }).click();
  await expect(page.getByRole('cell', { name: 'revogado', exact: true })).toBeVisible();
  expect((await request.get(lista, { headers })).status()).toBe(401);
});

test('an unknown address shows a page in Portuguese with status 404', async ({ page }) => {
  const response = await page.goto('/pagina-que-nao-existe');
  expect(response?.status()).toBe(404);
  await expect(page.getByRole('heading', { level: 1, name: 'Página não encontrada' })).toBeVisible();
});

test('fits a phone-sized screen', async ({ page }) => {
  await page.setViewportSize({ width: 375, height: 740 });
  await login(page, '/');
  await expect(page.getByRole('article', { name: 'Provedor Demonstração' })).toBeVisible();
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  expect(overflow).toBeLessThanOrEqual(0);
  await page.screenshot({ path: 'screenshots/painel-celular.png', fullPage: true });
});

test('a superadmin picks the provider to act on from the header', async ({ page }) => {
  await login(page, '/', SUPERADMIN_EMAIL, SUPERADMIN_PASSWORD);
  const picker = page.getByLabel('Provedor', { exact: true });
  await expect(picker.locator('option')).toHaveText(['Provedor B', 'Provedor Demonstração']);
  for (const [label, slug] of [['Provedor B', 'net-b'], ['Provedor Demonstração', 'demo']]) {
    await picker.selectOption({ label });
    await page.getByRole('button', { name: 'Trocar' }).click();
    await expect(page).toHaveURL('/');
    // the choice is the session's: it holds after a reload
    await page.reload();
    await hydrated(page);
    await expect(picker).toHaveValue(slug);
  }
});

test('every page runs and hydrates under its Content-Security-Policy', async ({ page }) => {
  // the browser reports each blocked script, style or connection
  const blocked: string[] = [];
  page.on('console', (m) => {
    if (/Content Security Policy|Refused to/i.test(m.text())) blocked.push(m.text());
  });
  await page.addInitScript(() => {
    document.addEventListener('securitypolicyviolation', (e) => {
      const w = window as unknown as { cspViolations?: string[] };
      w.cspViolations = [...(w.cspViolations ?? []), `${e.violatedDirective} ${e.blockedURI}`];
    });
  });
  const response = await page.goto('/login');
  const headers = response!.headers();
  expect(headers['content-security-policy']).toContain("'nonce-");
  expect(headers['content-security-policy']).not.toContain('unsafe-inline');
  expect(headers['x-frame-options']).toBe('DENY');
  expect(headers['x-content-type-options']).toBe('nosniff');
  expect(headers['referrer-policy']).toBe('same-origin');

  await login(page, '/');
  for (const path of ['/integracoes', '/dashboard/importacoes', '/clientes', '/conta', '/']) {
    await page.goto(path);
    await hydrated(page);
    expect(await page.evaluate(() => (window as unknown as { cspViolations?: string[] }).cspViolations ?? []), path).toEqual([]);
  }
  // after hydration the page still talks to the server (a server function)
  const refetch = page.waitForResponse((r) => r.url().endsWith('/api/overview') && r.status() === 200);
  await page.getByRole('button', { name: 'Atualizar' }).click();
  await refetch;
  expect(blocked).toEqual([]);
});

test('another site cannot post with the admin\'s session', async ({ page, request }) => {
  await login(page, '/');
  const cookies = await page.context().cookies();
  const session = cookies.find((c) => c.name === 'sgp_session')!;
  const forged = await request.post('/api/admin/integracoes/sgp/importacoes', {
    headers: { origin: 'http://evil.example', cookie: `sgp_session=${session.value}` },
    data: { nome_importacao: 'Forjada' },
  });
  expect(forged.status()).toBe(403);
  expect((await forged.json()).code).toBe('cross_origin');
});
