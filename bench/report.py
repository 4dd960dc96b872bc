"""The Markdown table printed at the end of `make bench` (and pasted in docs/performance.md)."""

KiB = 1024


def _mb(x):
    return '%.0f MB/s' % x if x is not None else '-'


def _x(x):
    return '%.2f×' % x if x is not None else '-'


def _pct(x):
    return '%.1f%%' % (100 * x) if x is not None else '-'


def _mib(kib):
    return '%.1f MiB' % (kib / KiB) if kib else '-'


def _err(doc):
    return (doc.get('error') if isinstance(doc, dict) else str(doc)) or '?'


def _status(ok):
    return 'met' if ok else 'missed'


def _problems(out, figure, doc):
    """A row for the checks a figure failed (digests, bytes, backups/), if any."""
    pr = doc.get('problems') or []
    if pr:
        out.append((figure + ': %d check(s) failed' % len(pr), pr[0],
                    '(all in the JSON)' if len(pr) > 1 else '', '-', 'none', 'missed'))


def rows(res):
    """(figure, cairn, baseline, ratio, target, status) for every figure measured."""
    out = []
    f = res.get('full_backup')
    if isinstance(f, dict) and 'mb_s' in f:
        size = '%.0f MB, %d files, %d nodes' % (f['bytes'] / 1e6, f['files'], f['nodes'])
        m = f['mb_s']
        out.append(('1. full backup vs `cp -r` + `sync` (%s)' % size, _mb(m['cairn']),
                    _mb(m['cp']), _x(f['ratio_vs_cp']), '≥ 0.9×',
                    _status(f['ratio_vs_cp'] >= 0.9)))
        out.append(('1. full backup vs `rclone copy` + `sync`', _mb(m['cairn']), _mb(m['rclone']),
                    _x(f['ratio_vs_rclone']), '≥ 3×', _status(f['ratio_vs_rclone'] >= 3)))
        if 'restic' in m:
            out.append(('1. full backup vs `restic backup` + `sync`', _mb(m['cairn']),
                        _mb(m['restic']), _x(f['ratio_vs_restic']), '≥ 4×',
                        _status(f['ratio_vs_restic'] >= 4)))
        out.append(('1. full backup, hash cache warm, vs `cp -r` + `sync`', _mb(m['cairn-hc']),
                    _mb(m['cp']), _x(f['ratio_hc_vs_cp']), '≥ 1.2×',
                    _status(f['ratio_hc_vs_cp'] >= 1.2)))
        c = f['cpu_s_per_gb']
        out.append(('1. CPU seconds per GB: cairn (agents + coordinator) / cp / rclone / restic',
                    '%.2f s' % c['cairn'],
                    ' / '.join('%.2f s' % c[k] for k in ('cp', 'rclone', 'restic') if k in c),
                    '-', '(info)', ''))
    elif f:
        out.append(('1. full backup', 'not measured: ' + _err(f), '', '', '', ''))
    i = res.get('incremental')
    if isinstance(i, dict) and 'incr1_fraction' in i:
        full_s = 'full: %.2f s' % i['median_s']['full']
        out.append(('2. `backup --incremental`, no new data: time / full backup time',
                    '%s (%.0f ms)' % (_pct(i['incr0_fraction']), i['incr0_ms']), full_s, '-',
                    '≤ 2%', _status(i['incr0_fraction'] <= 0.02)))
        out.append(('2. `backup --incremental`, 1% new data: time / full backup time',
                    '%s (%.0f ms; %.1f%% of the bytes uploaded)'
                    % (_pct(i['incr1_fraction']), i['incr1_ms'],
                       100 * i['incr1_uploaded_fraction']), full_s, '-', '≤ 3%',
                    _status(i['incr1_fraction'] <= 0.03)))
        out.append(('2. plain backup, nothing new (dedup): time / full backup time',
                    '%s (%.2f s)' % (_pct(i['again_fraction']), i['median_s']['again']),
                    full_s, '-', '(info)', ''))
        _problems(out, '2. incremental', i)
    elif i:
        out.append(('2. incremental backup', 'not measured: ' + _err(i), '', '', '', ''))
    r = res.get('restore')
    if isinstance(r, dict) and 'las_ratio' in r:
        out.append(('3. restore, load-and-stream, vs full backup', _mb(r['las_mb_s']),
                    _mb(r['full_mb_s']), _x(r['las_ratio']), '≥ 0.9×',
                    _status(r['las_ratio'] >= 0.9)))
        out.append(('3. restore, refresh, vs full backup', _mb(r['refresh_mb_s']),
                    _mb(r['full_mb_s']), _x(r['refresh_ratio']), '≥ 0.9×',
                    _status(r['refresh_ratio'] >= 0.9)))
        if r.get('emulator_las_s') is not None:
            ms = r['median_s']
            out.append(('3. of which the emulator\'s own load (REST call alone, no cairn)',
                         'load-and-stream %.2f s of %.2f s; refresh %.2f s of %.2f s'
                         % (r['emulator_las_s'], ms['las'], r['emulator_refresh_s'],
                            ms['refresh']), '', '-', '(info)', ''))
    elif r:
        out.append(('3. restore', 'not measured: ' + _err(r), '', '', '', ''))
    for s in res.get('skew', []):
        if 'median_skew_ms' not in s:
            out.append(('4. skew, %s nodes' % s.get('nodes'), 'not measured: ' + _err(s),
                        '', '', '', ''))
            continue
        target = {3: 20, 100: 200}.get(s['nodes'])
        out.append(('4. snapshot skew, %d nodes: median (max)' % s['nodes'],
                    '%.0f ms (%.0f ms)' % (s['median_skew_ms'], s['max_skew_ms']),
                    'REST snapshots alone: %.0f ms' % s['median_direct_skew_ms'], '-',
                    '≤ %d ms' % target if target else '(info)',
                    _status(s['median_skew_ms'] <= target) if target else ''))
    m = res.get('memory', {})
    a = m.get('agent')
    if isinstance(a, dict) and 'agent_peak_rss_kib' in a:
        out.append(('5. agent peak RSS: %.0f MiB Data.db + %d small files'
                    % (a['data_db_bytes'] / 2**20, a['small_sstables'] * 9),
                    _mib(a['agent_peak_rss_kib']), '', '-', '≤ 64 MiB',
                    _status(a['agent_peak_rss_kib'] <= 64 * KiB)))
    elif a:
        out.append(('5. agent peak RSS', 'not measured: ' + _err(a), '', '', '', ''))
    for extra in m.get('agent_extra', []):
        out.append(('5. agent peak RSS: %.0f MiB Data.db + %d small files'
                    % (extra['data_db_bytes'] / 2**20, extra['small_sstables'] * 9),
                    _mib(extra['agent_peak_rss_kib']), '', '-', '≤ 64 MiB',
                    _status(extra['agent_peak_rss_kib'] <= 64 * KiB)))
    c = m.get('coordinator')
    if isinstance(c, dict) and 'coordinator_peak_rss_kib' in c:
        out.append(('5. coordinator peak RSS: %d nodes × %d tables' % (c['nodes'], c['tables']),
                    _mib(c['coordinator_peak_rss_kib']),
                    'agents: %s' % _mib(c['agent_peak_rss_kib_max']), '-', '≤ 64 MiB',
                    _status(c['coordinator_peak_rss_kib'] <= 64 * KiB)))
    elif c:
        out.append(('5. coordinator peak RSS', 'not measured: ' + _err(c), '', '', '', ''))
    s3 = res.get('s3')
    if isinstance(s3, dict) and 'rclone_mb_s' in s3:
        if 'cairn_mb_s' in s3:
            out.append(('6. S3 (moto): requests of a full backup, per SSTable',
                        '%d, %.2f' % (s3['cairn_requests'], s3['cairn_requests_per_sstable']),
                        'rclone: %d, %.1f' % (s3['rclone_requests'],
                                              s3['rclone_requests_per_sstable']),
                        '-', '≤ 1.5', _status(s3['cairn_requests_per_sstable'] <= 1.5)))
            if 'cairn_unchanged_requests' in s3:
                out.append(('6. S3 (moto): requests of an unchanged backup, per SSTable',
                            '%d, %.2f' % (s3['cairn_unchanged_requests'],
                                          s3['cairn_unchanged_requests_per_sstable']),
                            '', '-', '≤ 0.2',
                            _status(s3['cairn_unchanged_requests_per_sstable'] <= 0.2)))
            inc = s3.get('incremental')
            if isinstance(inc, dict) and 'per_node' in inc:
                out.append(('6. S3 (moto): requests of `backup --incremental`, no new data, '
                            'per node (%d nodes)' % inc['nodes'],
                            '%.1f (%d in all)' % (inc['per_node'], inc['total']), '', '-',
                            '≤ 5', _status(inc['per_node'] <= 5)))
            elif inc:
                out.append(('6. S3 (moto): `backup --incremental`, no new data',
                            'not measured: ' + _err(inc), '', '', '', ''))
            out.append(('6. S3 (moto): throughput vs `rclone copy`', _mb(s3['cairn_mb_s']),
                        _mb(s3['rclone_mb_s']), _x(s3['ratio_vs_rclone']), '(info)', ''))
        else:
            out.append(('6. S3 (moto)', 'not measured: %s' % s3.get('cairn_error', '?'),
                        'rclone: %s, %d requests' % (_mb(s3['rclone_mb_s']),
                                                     s3['rclone_requests']), '-', '', ''))
    elif s3:
        out.append(('6. S3', 'not measured: ' + _err(s3), '', '', '', ''))
    lc = res.get('lifecycle')
    if isinstance(lc, dict) and 'purge_peak_rss_kib' in lc:
        size = '%d blobs, %d backups' % (lc['blobs'], lc['backups'])
        for cmd in ('verify', 'purge'):
            rq = lc['%s_requests' % cmd]
            out.append(('7. %s peak RSS (%s)' % (cmd, size),
                        _mib(lc['%s_peak_rss_kib' % cmd]),
                        'requests: %d list, %d get, %d delete' % (rq['list'], rq['get'],
                                                                  rq['delete']),
                        '-', '≤ 64 MiB', _status(lc['%s_peak_rss_kib' % cmd] <= 64 * KiB)))
        out.append(('7. purge removed (%s)' % size,
                    '%d of %d unreferenced blobs' % (lc['purge_blobs_removed'],
                                                     lc['unreferenced_blobs']),
                    'Bloom %s, expected fp %.1e; %d referenced entries'
                    % (_mib(lc['purge_bloom_bytes'] / KiB), lc['purge_bloom_expected_fp'],
                       lc['purge_referenced_entries']),
                    '-', 'verify ok before and after',
                    _status(lc.get('checks') == 'ok')))
        out.append(('7. wall time (%s)' % size,
                    'verify %.1f s, purge %.1f s' % (lc['verify_wall_s'], lc['purge_wall_s']),
                    'repository written in %.0f s' % lc['generate_wall_s'], '-', '-', '-'))
    elif lc:
        out.append(('7. purge and verify memory', 'not measured: ' + _err(lc), '', '', '', ''))
    pt = res.get('pitr')
    if isinstance(pt, dict) and 'ratio' in pt:
        ms = pt['median_s']
        out.append(('8. restore --at, base + %d increments, vs restore of a full backup of '
                    'the same %.0f MB (refresh): time' % (pt['increments'], pt['bytes'] / 1e6),
                    '%.2f× the time (%.2f s)' % (pt['ratio'], ms['at']),
                    'full: %.2f s' % ms['flat'], '-', '≤ 1.10×',
                    _status(pt['ratio'] <= 1.10 and not pt['problems'])))
        out.append(('8. the chain: base, then %d × (one new SSTable a node, `backup '
                    '--incremental`)' % pt['increments'],
                    'built in %.0f s' % pt['chain_build_s'],
                    'increment: %.2f s median' % pt['increment_median_s'], '-', '(info)', ''))
        _problems(out, '8. restore --at', pt)
    elif pt:
        out.append(('8. restore --at', 'not measured: ' + _err(pt), '', '', '', ''))
    return out


def markdown(res):
    lines = ['| figure | cairn | baseline | ratio | target | status |',
             '|---|---|---|---|---|---|']
    for r in rows(res):
        lines.append('| ' + ' | '.join(str(x).replace('|', '\\|').replace('\n', ' ')
                                        for x in r) + ' |')
    mach = res.get('machine', {})
    lines.append('')
    lines.append('Machine: %s cores (%s), %.0f GiB, disk %s (%s); commit %s; BENCH_SCALE=%s, '
                 '%s repetitions, medians; ratios > 1 mean cairn is faster.'
                 % (mach.get('cores'), mach.get('cpu'), (mach.get('memory_bytes') or 0) / 2**30,
                    mach.get('disk', {}).get('device'), mach.get('disk', {}).get('filesystem'),
                    (res.get('commit') or '?')[:12], res.get('scale'), res.get('reps')))
    return '\n'.join(lines)
