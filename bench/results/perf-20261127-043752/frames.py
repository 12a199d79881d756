import sys,re,collections
path,pid,pat=sys.argv[1],sys.argv[2],sys.argv[3]
c=collections.Counter(); outer=collections.Counter(); n=0; tot=0; block=[]
def short(l):
    m=re.search(r'\] ([^ \(]*::[^\(]*)',l)
    s=m.group(1) if m else l.strip()
    return s.strip()[:150]
def flush(b):
    global n,tot
    if not b or b[0].split()[0].split('/')[0]!=pid: return
    tot+=1
    fr=b[1:]
    idx=[i for i,l in enumerate(fr) if re.search(pat,l)]
    if not idx: return
    n+=1
    c[short(fr[idx[0]])]+=1
    # the first frame above the outermost match that is not the pattern: who called into it
    o=idx[-1]
    outer[short(fr[o])+'  <=  '+(short(fr[o+1]) if o+1<len(fr) else '-')]+=1
for line in open(path,errors='replace'):
    if line.strip()=='': flush(block); block=[]
    else: block.append(line.rstrip())
flush(block)
print('matching samples',n,'of',tot)
print('-- innermost matching frame'); [print(f"{100*v/tot:5.1f}% {k}") for k,v in c.most_common(25)]
print('-- outermost matching frame <= its caller'); [print(f"{100*v/tot:5.1f}% {k}") for k,v in outer.most_common(25)]
