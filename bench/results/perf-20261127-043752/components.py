import sys,re,collections
path,pids=sys.argv[1],set(sys.argv[2].split(','))
cats=[('sqlite-native',r'libe_sqlite3'),('sqlite-ado',r'\[(Microsoft\.Data\.Sqlite|SQLitePCLRaw[^\]]*)\]'),
('efcore',r'\[Microsoft\.EntityFrameworkCore[^\]]*\]'),('wolverine',r'\[(Wolverine[^\]]*|JasperFx[^\]]*|Weasel[^\]]*)\]'),
('json',r'\[System\.Text\.Json\]'),('telemetry',r'\[(OpenTelemetry[^\]]*|System\.Diagnostics\.DiagnosticSource)\]'),
('kestrel',r'\[Microsoft\.AspNetCore\.Server\.Kestrel[^\]]*\]'),('httpclient',r'\[System\.Net\.Http\]'),('sockets',r'\[System\.Net\.Sockets\]'),
('mercato',r'\[Mercato\.[^\]]*\]'),('auth',r'\[(Microsoft\.AspNetCore\.Authentication[^\]]*|Microsoft\.IdentityModel[^\]]*|System\.IdentityModel[^\]]*)\]'),
('routing',r'\[Microsoft\.AspNetCore\.Routing\]'),('aspnet-other',r'\[Microsoft\.AspNetCore[^\]]*\]'),('logging',r'\[Microsoft\.Extensions\.Logging[^\]]*\]'),
('polly',r'\[Polly[^\]]*\]'),('di',r'\[Microsoft\.Extensions\.DependencyInjection\]'),('linq',r'\[System\.Linq[^\]]*\]'),
('jit',r'libclrjit'),('runtime-native',r'libcoreclr'),('gc',r'(gc_heap|GCHeap|WKS::|SVR::)'),
('threadpool',r'ThreadPoolWorkQueue|PortableThreadPool|LowLevelLifoSemaphore|WorkerThread')]
inner=collections.Counter(); outer=collections.Counter(); leafmod=collections.Counter(); n=0; block=[]
def cat(line):
    for k,p in cats:
        if re.search(p,line): return k
def flush(b):
    global n
    if not b or b[0].split()[0].split('/')[0] not in pids: return
    n+=1
    frames=b[1:]
    ks=[c for c in (cat(l) for l in frames) if c]
    inner[ks[0] if ks else ('kernel' if frames and 'kernel' in frames[0] else 'other')]+=1
    outer[ks[-1] if ks else 'none']+=1
    if frames:
        m=re.search(r'\(([^)]*)\)\s*$',frames[0]); leafmod[m.group(1).split('/')[-1] if m else '?']+=1
for line in open(path,errors='replace'):
    if line.strip()=='': flush(block); block=[]
    else: block.append(line.rstrip())
flush(block)
print('samples',n)
print('-- innermost component'); [print(f"{100*v/n:5.1f}% {k}") for k,v in inner.most_common(22)]
print('-- outermost component'); [print(f"{100*v/n:5.1f}% {k}") for k,v in outer.most_common(12)]
print('-- leaf module'); [print(f"{100*v/n:5.1f}% {k}") for k,v in leafmod.most_common(12)]
